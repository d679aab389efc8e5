let a = 10; in rec { inherit a; b = a + 1; }
