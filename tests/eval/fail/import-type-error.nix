(import ../data/throws.nix).typeError
