let f = x: { a = f x; }; in builtins.toJSON (f 1)
