x: x.a or x.b or x.c
