(x: x) x
