with 1; x
