derivationStrict { name = "x"; builder = "/bin/sh"; system = "x"; outputs = [ ]; }
