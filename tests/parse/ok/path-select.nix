./a.b
