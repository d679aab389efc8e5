# importing the same file twice gives the same (shared) value
let a = import ../data/simple.nix; b = import ../data/simple.nix; in [ a b (a == b) ]
