let d = derivation { name = "d"; builder = "/bin/sh"; system = "x"; }; in
builtins.toFile "x" "${d}"
