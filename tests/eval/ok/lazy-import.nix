import ../data/simple.nix
