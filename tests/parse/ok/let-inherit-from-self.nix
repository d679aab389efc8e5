let inherit (x) a; x = { a = 1; }; in a
