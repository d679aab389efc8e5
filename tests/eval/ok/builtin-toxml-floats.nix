map builtins.toXML [ 1.5 (1.0 / 3) 1.0e20 ]
