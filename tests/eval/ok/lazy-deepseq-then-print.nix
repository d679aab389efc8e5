let v = { a = [ 1 (1 + 1) ]; b.c = 2 + 1; }; in builtins.deepSeq v v
