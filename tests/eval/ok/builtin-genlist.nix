with builtins; [ (genList (x: x * x) 5) (genList (x: x) 0) (genList toString 3) (length (genList (x: throw "lazy") 2)) ]
