a: b: if a then 1 else if b then 2 else 3
