let f = x: x; in "a${toString f}b"
