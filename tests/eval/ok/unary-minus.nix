let x = 5; in [ (-x) (- -x) (0 - x) (-1.5) (- (1 + 2)) (builtins.sub 0 x) ]
