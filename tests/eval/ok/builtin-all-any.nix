with builtins; [ (all (x: x > 0) [ 1 2 3 ]) (all (x: x > 0) [ 1 (-2) ]) (all (x: throw "never") [ ]) (any (x: x == 2) [ 1 2 3 ]) (any (x: x == 5) [ 1 2 ]) (any (x: throw "never") [ ])
  (any (x: x) [ true (throw "short-circuit") ]) (all (x: x) [ false (throw "short-circuit") ]) ]
