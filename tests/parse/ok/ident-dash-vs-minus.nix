let a-b = 1; a = 2; b = 3; in [ a-b (a - b) (a -b) ]
