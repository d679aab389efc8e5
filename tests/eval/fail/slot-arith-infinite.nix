let
  f = n: { a = n + 1; };
  x = (f x).a;
in x
