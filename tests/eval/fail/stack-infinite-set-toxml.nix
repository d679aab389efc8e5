let f = x: [ (f x) ]; in builtins.toXML (f 1)
