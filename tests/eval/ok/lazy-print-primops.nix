[ builtins.map (builtins.map (x: x)) builtins.add (x: x) ]
