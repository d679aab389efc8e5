{x, y, x}: x
