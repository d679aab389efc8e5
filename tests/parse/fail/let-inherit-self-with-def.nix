let inherit a; b = 1; in b
