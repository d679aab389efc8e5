f: a: b: f a b
