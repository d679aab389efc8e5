builtins.foldl' (acc: x: x) (throw "forced even for an empty list") [ ]
