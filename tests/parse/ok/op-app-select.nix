f: a: f a.b a.c
