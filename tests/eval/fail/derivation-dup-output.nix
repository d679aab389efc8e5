(derivation { name = "x"; builder = "/bin/sh"; system = "x"; outputs = [ "out" "out" ]; }).outPath
