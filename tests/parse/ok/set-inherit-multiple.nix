a: x: { inherit a; inherit (x) b; c = 1; }
