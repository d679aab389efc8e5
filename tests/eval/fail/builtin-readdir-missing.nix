builtins.readDir ../data/missing-dir
