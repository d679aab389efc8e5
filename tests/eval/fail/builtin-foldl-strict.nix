# foldl' forces the accumulator at each step
builtins.foldl' (acc: x: if x == 2 then throw "acc at 2" else x) 0 [ 1 2 3 ]
