a: b: !a == b
