let x = { }; in let inherit (x) y; z = y; in z
