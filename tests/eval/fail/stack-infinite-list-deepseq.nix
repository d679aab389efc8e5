let f = x: [ (f x) ]; in builtins.deepSeq (f 1) 1
