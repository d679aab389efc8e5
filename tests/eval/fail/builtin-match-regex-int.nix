builtins.match 1 "1"
