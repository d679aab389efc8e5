builtins.readFile ../data/missing.txt
