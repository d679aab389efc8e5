let iff = 1; inherits = 2; letx = 3; rec_ = 4; orx = 5; in [ iff inherits letx rec_ orx ]
