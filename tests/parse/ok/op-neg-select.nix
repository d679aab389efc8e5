a: -a.b
