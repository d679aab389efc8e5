a: b: !a && b
