# `//` on big sets is layered rather than copied; every way of reading a set must still see
# the right-hand side win, in sorted order, with no duplicates.
let
  big = n: prefix: builtins.listToAttrs (builtins.genList (i: { name = "${prefix}${toString i}"; value = i; }) n);
  a = big 200 "a";
  b = big 150 "a" // { extra = "b"; };
  # A chain deeper than the layering limit, with overlapping names at every step.
  chain = builtins.foldl' (acc: i: acc // { "a${toString i}" = -i; "new${toString i}" = i; } // big 60 "x") a (builtins.genList (i: i) 20);
  small = { a5 = "small"; zz = 1; };
  s1 = small // a;   # small under big
  s2 = a // small;   # big under small
  l = a // b;        # both big
in {
  lens = map builtins.length (map builtins.attrNames [ a b chain s1 s2 l ]);
  picks = [ s1.a5 s2.a5 s2.zz s1.zz l.extra l.a199 l.a149 chain.a3 chain.a19 chain.new7 chain.a150 chain.x59 ];
  has = [ (s1 ? a5) (s2 ? nope) (chain ? new19) (chain ? new20) (l ? a199) ];
  names = builtins.genList (i: builtins.elemAt (builtins.attrNames chain) (i * 13)) 20;
  vals = builtins.foldl' (x: y: x + y) 0 (builtins.attrValues chain);
  eq = [ (s2 == a // small) (l == b // a) (l == (a // b)) (chain == chain // {}) ({} // a == a) ];
  inter = [ (builtins.attrNames (builtins.intersectAttrs { a1 = 0; new3 = 0; nope = 0; } chain))
            (builtins.attrValues (builtins.intersectAttrs { a1 = 0; new3 = 0; nope = 0; } chain))
            (builtins.length (builtins.attrNames (builtins.intersectAttrs chain { a1 = 0; new3 = 0; nope = 0; }))) ];
  removed = builtins.attrNames (builtins.removeAttrs (small // { a = 1; b = 2; } // big 50 "q") [ "q1" "a" "zz" ]);
  mapped = builtins.attrValues (builtins.mapAttrs (n: v: "${n}=${toString v}") (small // big 3 "m"));
  json = builtins.toJSON (builtins.removeAttrs l (builtins.attrNames a));
  nested = (let s = big 100 "n" // { inner = big 100 "i" // { deep = "d"; }; }; in s.inner.deep + toString s.inner.i42 + s.inner.nope or "missing");
}
