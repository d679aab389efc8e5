x: { inherit (x); }
