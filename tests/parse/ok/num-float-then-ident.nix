let a = 1; in 1.a
