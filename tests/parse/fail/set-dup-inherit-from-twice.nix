x: { inherit (x) a; inherit (x) a; }
