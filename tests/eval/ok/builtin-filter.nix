with builtins; [ (filter (x: x > 1) [ 1 2 3 ]) (filter (x: true) [ ]) (filter (x: false) [ 1 ]) (filter isString [ 1 "a" null "b" ]) ]
