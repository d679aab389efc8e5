a: b: assert a; assert b; a
