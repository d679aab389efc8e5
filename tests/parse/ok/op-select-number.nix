a: a.1
