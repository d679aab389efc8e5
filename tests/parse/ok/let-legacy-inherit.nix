let a = 1; in let { inherit a; body = a; }
