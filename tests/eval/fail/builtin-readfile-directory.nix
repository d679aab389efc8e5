builtins.readFile ../data/dir
