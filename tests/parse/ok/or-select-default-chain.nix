x: x.a.b.c or x.d or 2
