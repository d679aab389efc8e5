builtins.lessThan "a" 1
