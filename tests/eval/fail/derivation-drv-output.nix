(derivation { name = "x"; builder = "/bin/sh"; system = "x"; outputs = [ "out" "drv" ]; }).outPath
