import ../data/bad-syntax.nix
