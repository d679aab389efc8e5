with builtins; [ (length [ ]) (length [ 1 2 3 ]) (length [ (throw "a") (throw "b") ]) (length (genList (x: x) 1000)) ]
