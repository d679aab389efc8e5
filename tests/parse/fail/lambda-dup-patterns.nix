args@{args, x, y, z}: x
