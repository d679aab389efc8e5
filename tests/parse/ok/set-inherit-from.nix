x: { inherit (x) a b; }
