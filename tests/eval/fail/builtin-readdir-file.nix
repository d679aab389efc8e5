builtins.readDir ../data/file.txt
