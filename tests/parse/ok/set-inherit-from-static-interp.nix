x: { inherit (x) ${"a"}; }
