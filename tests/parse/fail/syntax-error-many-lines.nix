let
  a = 1;
  b = 2;
  c = 3;
  d = 4;
  e = ;
  f = 6;
  g = 7;
  h = 8;
in a
