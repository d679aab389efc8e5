builtins.foldl' builtins.add 0 5
