builtins.foldl' (acc: x: x) (throw "initial accumulator is never forced") [ 1 ]
