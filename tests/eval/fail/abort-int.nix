abort 1
