x: { inherit "a" x; }
