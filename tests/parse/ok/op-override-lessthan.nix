let __lessThan = a: b: true; in [ (1 < 2) (1 >= 2) ]
