# Nix 2.8's equality compares held values by identity first (after forcing them): a value
# equal to itself even when it holds functions. Case set 1.
let
  f = x: x;
  t = throw "forced";
  s = { inherit f; };
in [
  (builtins.elem f [ f ])
  (builtins.elem f [ (x: x) ])
  (f == f)
  ([ f ] == [ f ])
  (s == s)
  ({ inherit f; } == { inherit f; })
  (builtins.elem s [ s ])
  ([ f 1 ] < [ f 2 ])
  (builtins.elem [ f ] [ [ f ] ])
  (let g = f; in [ g ] == [ f ])
  (builtins.tryEval ([ t ] == [ t ]))
  (builtins.tryEval (builtins.elem t [ t ]))
  (s.f == s.f)
  ([ s.f ] == [ s.f ])
]
