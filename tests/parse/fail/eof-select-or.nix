x: x.a or
