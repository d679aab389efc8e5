map builtins.tryEval [ 1 (throw "t") (assert false; 1) "s" (builtins.throw "bt") (let f = x: assert x; x; in f false) ]
