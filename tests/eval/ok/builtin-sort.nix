with builtins; [ (sort lessThan [ 3 1 2 ]) (sort (a: b: a > b) [ 1 3 2 ]) (sort lessThan [ ]) (sort lessThan [ "b" "a" "c" ]) (sort lessThan [ 1.5 1 2 ]) ]
