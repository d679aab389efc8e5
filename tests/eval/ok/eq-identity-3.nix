# Nix 2.8's equality compares held values by identity first (after forcing them): a value
# equal to itself even when it holds functions. Case set 3.
let
  s = { g = x: x; k = [ (x: x) ]; };
  f = x: x;
in [
  (with s; [ g ] == [ g ])
  (with s; builtins.elem g [ g ])
  (with s; k == k)
  (with s; [ k ] == [ k ])
  (let t = s; in with t; [ g ] == [ g ])
  (with { y = f; }; [ y ] == [ y ])
  (let y = (x: x); in [ y ] == [ y ])
  (rec { a = f; b = [ a ] == [ a ]; }).b
  (let a = { b = f; }; in [ a.b ] == [ a.b ])
  ({ x = f; }.x == f)
  (builtins.elem f [ f f ])
  (let l = [ f ]; in l == l)
  (let l = [ f ]; in builtins.elem l [ l ])
  (let l = [ f ]; in builtins.elem l [ [ f ] ])
]
