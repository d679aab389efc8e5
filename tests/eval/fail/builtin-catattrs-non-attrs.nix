builtins.catAttrs "a" [ { a = 1; } 5 ]
