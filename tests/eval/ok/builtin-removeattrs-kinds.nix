# removeAttrs on every kind of set: layered (`//`), mapped (lazy), a literal with nothing to
# remove, and a set that is then walked and selected from.
with builtins;
let
  layered = { a = 1; c = 3; } // { b = 2; d = 4; };
  mapped = mapAttrs (n: v: v * 10) { a = 1; b = 2; };
  r1 = removeAttrs layered [ "x" ];
  r2 = removeAttrs layered [ "c" "x" ];
in [
  r1 (attrNames r1) r1.d
  r2 (attrNames r2)
  (removeAttrs mapped [ "z" ]) (removeAttrs mapped [ "a" ])
  (removeAttrs { p = 1; } [ "q" ])
  (attrNames (removeAttrs (layered // { e = 5; }) [ "a" "e" ]))
]
