let
  f = n: { a = n < 2; };
in (f [ 1 ]).a
