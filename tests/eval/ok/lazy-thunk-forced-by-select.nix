let s = { a = { x = 1 + 1; }; b = 2; }; in [ s.a s.a.x s ]
