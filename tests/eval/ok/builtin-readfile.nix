with builtins; [ (readFile ../data/file.txt) (readFile ../data/empty.txt) (readFile "${toString ../data/simple.nix}") (stringLength (readFile ../data/file.txt)) ]
