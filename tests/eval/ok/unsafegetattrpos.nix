let
  s = { a = 1;
    b = 2; };
  p = import ../data/pos.nix;
in with builtins; [ (unsafeGetAttrPos "a" s) (unsafeGetAttrPos "b" s) (unsafeGetAttrPos "missing" s) (unsafeGetAttrPos "first" p) (unsafeGetAttrPos "inner" p.nested)
  (unsafeGetAttrPos "x" { inherit (s) a; x = 1; }) (unsafeGetAttrPos "a" { inherit (s) a; }) (unsafeGetAttrPos "k" (listToAttrs [ { name = "k"; value = 1; } ])) (unsafeGetAttrPos "d" { d.e = 1; }) ]
