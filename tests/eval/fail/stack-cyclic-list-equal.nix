# Nix compares element by element; two distinct cyclic lists never finish.
let x = [ x ]; y = [ y ]; in x == y
