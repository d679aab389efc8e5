x: { inherit (x) "a" "b c"; }
