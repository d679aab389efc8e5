let a = 1; in rec { inherit a; b = a; }
