let f = builtins.map 5; in f [ 1 ]
