builtins.partition (x: null) [ 1 ]
