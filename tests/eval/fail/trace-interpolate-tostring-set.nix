let s = { a = 1; }; in "a${toString s}b"
