with builtins; [ (catAttrs "a" [ { a = 1; } { b = 2; } { a = 3; } ]) (catAttrs "x" [ ]) (catAttrs "a" [ { a = throw "lazy"; } ] != [ ]) ]
