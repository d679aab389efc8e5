a: d: a.b.c or d
