# Attribute sets: building many sets and chaining `//`.
let
  step = acc: i: acc // { "k${toString i}" = i; } // { last = i; };
  big = builtins.foldl' step { } (builtins.genList (i: i) 4000);
in builtins.length (builtins.attrNames big) + big.last
