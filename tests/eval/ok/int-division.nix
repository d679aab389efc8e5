[ (builtins.div 7 2) (builtins.div (-7) 2) (builtins.div 7 (-2)) (builtins.div 7.0 2) (builtins.div 1 4.0) (6 / 3) ]
