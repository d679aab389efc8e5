a: b: -a ? b
