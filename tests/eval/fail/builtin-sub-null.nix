builtins.sub null 1
