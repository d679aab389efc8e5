(derivation { name = "x"; builder = "/bin/sh"; system = "x"; outputHash = "abc"; outputHashMode = "nar"; }).outPath
