import ../data/undefined-var.nix
