(derivation { name = "x"; builder = "/bin/sh"; system = "x"; outputHash = "abc"; outputHashAlgo = "sha256"; }).outPath
