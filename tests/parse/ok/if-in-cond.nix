a: if if a then a else a then 1 else 2
