x: { inherit (x) or; }
