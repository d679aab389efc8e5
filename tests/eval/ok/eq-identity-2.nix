# Nix 2.8's equality compares held values by identity first (after forcing them): a value
# equal to itself even when it holds functions. Case set 2.
let
  f = x: x;
  s = { inherit f; g = f; };
  r = rec { h = x: x; l = [ h ]; m = [ h ]; };
in [
  (with s; [ f ] == [ f ])
  ((x: [ x ] == [ x ]) f)
  ((x: builtins.elem x [ x ]) f)
  (r.l == r.m)
  (let inherit (s) f; in [ f ] == [ f ])
  (s.f == s.g)
  ([ s.f ] == [ s.g ])
  ({ a = s; } == { a = s; })
  ({ a = f; } == { a = f; })
  ({ inherit (s) f; } == { inherit (s) f; })
  (let d = { type = "derivation"; outPath = f; }; in [ d ] == [ { type = "derivation"; outPath = f; } ])
  (let d = { type = "derivation"; outPath = f; }; in d == d)
  (builtins.elem f (builtins.map (x: f) [ 1 ]))
  (builtins.elem f (builtins.attrValues s))
  (builtins.elem f [ s.f ])
  ([ f ] == builtins.filter (x: true) [ f ])
  ([ f ] == builtins.concatLists [ [ f ] ])
  ([ f ] < [ f f ])
  (builtins.elem 1 [ 1.0 ])
  ((a: b: [ a ] == [ b ]) f f)
]
