let __sub = a: b: 0; in [ (-1) (2 - 1) ]
