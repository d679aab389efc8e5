(import ../data/throws.nix).typeError + 1
