# deepSeq visits each set and list once, so cyclic values are fine.
let x = { a = x; b = [ x ]; }; y = [ y ]; in [ (builtins.deepSeq x 1) (builtins.deepSeq y 2) ]
