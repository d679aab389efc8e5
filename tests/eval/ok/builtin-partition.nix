with builtins; [ (partition (x: x > 2) [ 1 2 3 4 ]) (partition (x: true) [ ]) (partition isString [ "a" 1 "b" ]) ]
