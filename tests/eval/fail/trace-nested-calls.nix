let
  f = x: g x;
  g = y: { a = y + "s"; }.a;
in f 1
