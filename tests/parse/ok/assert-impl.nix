a: b: assert a -> b; 1
