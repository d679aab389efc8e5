rec { inherit (a) b; a = { b = 1; }; }
