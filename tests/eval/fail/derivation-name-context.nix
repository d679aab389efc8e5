let d = derivation { name = "d"; builder = "/bin/sh"; system = "x"; }; in
(derivation { name = "x${d}"; builder = "/bin/sh"; system = "x"; }).outPath
