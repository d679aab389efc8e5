{ a = builtins.map; b = builtins.map (x: x); c = builtins.foldl' builtins.add; d = builtins.add; e = x: x; f = builtins.trace; }
