let f = x: x; s = { inherit f; }; in [ (f == f) ((x: x) == (x: x)) (s == s) ([ f ] == [ f ]) ({ a = f; } == { a = f; }) (s.f == s.f) ]
