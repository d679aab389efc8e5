let s = { a = { b = null; }; "x y" = 1; }; in [ (s ? a) (s ? b) (s ? a.b) (s ? a.b.c) (s ? "x y") (s ? ${"a"}) (1 ? a) ("s" ? a) ]
