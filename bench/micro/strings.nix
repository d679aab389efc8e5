# Strings: concatenation and interpolation.
let
  go = n: acc: if n == 0 then acc else go (n - 1) "${acc}${toString n},";
  s = go 5000 "";
in builtins.stringLength s + builtins.stringLength (builtins.concatStringsSep "-" (builtins.genList toString 50000))
