(import ../data/self-import.nix).y
