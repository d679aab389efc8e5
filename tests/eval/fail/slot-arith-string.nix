let
  f = n: g (n - 1);
  g = x: x + 0;
in f "a"
