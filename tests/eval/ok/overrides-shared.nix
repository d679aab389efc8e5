# `__overrides` replaces a `rec` attribute for the set and its other attributes, but never
# the outside variable the attribute was defined as.
let
  x = 1;
  y = 5;
  s = rec { a = x; b = a; inherit y; c = y; __overrides = { a = 2; y = 6; }; };
in [ s.a s.b s.y s.c x y ]
