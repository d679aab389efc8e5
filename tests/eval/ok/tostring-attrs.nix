[ (toString { __toString = self: "x${toString self.n}"; n = 5; }) (toString { outPath = "/out"; }) (toString { outPath = { outPath = "/inner"; }; })
  (toString { __toString = self: "ts"; outPath = "/op"; }) (toString [ { outPath = "/a"; } { __toString = _: "b"; } ]) ]
