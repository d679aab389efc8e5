a: b: !a + b
