with builtins; [ (toJSON 1) (toJSON 1.5) (toJSON "s\"q\n\t\\") (toJSON null) (toJSON true) (toJSON [ 1 "a" ]) (toJSON { b = 1; a = [ ]; }) (toJSON { }) (toJSON [ ])
  (toJSON { outPath = "/out"; other = 1; }) (toJSON { __toString = _: "ts"; }) (toJSON "\u0001 é") (toJSON 0.1) (toJSON 1.0e20) (toJSON (-0.0)) (toJSON 100.0) ]
