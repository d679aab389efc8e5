a: b: a - -b
