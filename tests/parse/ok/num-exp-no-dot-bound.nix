let e3 = 2; in 1e3
