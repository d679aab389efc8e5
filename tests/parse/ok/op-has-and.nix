a: b: a ? b && b
