let s = builtins.foldl' (acc: i: acc + toString i) "" (builtins.genList (x: x) 200); in [ (builtins.stringLength s) (builtins.substring 0 20 s) ]
