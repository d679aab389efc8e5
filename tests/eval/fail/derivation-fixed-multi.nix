(derivation { name = "x"; builder = "/bin/sh"; system = "x"; outputs = [ "out" "dev" ]; outputHash = "sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="; }).outPath
