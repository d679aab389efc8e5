let f = x: f x; in rec { a = b; b = a; }.a
