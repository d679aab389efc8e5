a: b: a ? ${b}
