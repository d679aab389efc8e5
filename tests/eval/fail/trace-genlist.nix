builtins.genList (i: 10 / (i - 2)) 4
