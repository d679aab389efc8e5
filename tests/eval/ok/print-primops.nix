[ builtins.map (builtins.map (x: x)) builtins.foldl' (builtins.foldl' builtins.add) (builtins.foldl' builtins.add 0) (x: x) ({ a }: a) builtins.throw builtins.genericClosure builtins.import ]
