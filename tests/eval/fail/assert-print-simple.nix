let x = { a = 1; }; in assert x.a or 0 > 0 -> x ? b; x
