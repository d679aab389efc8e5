let
  l1 = 1;
  l2 = 2;
  l3 = 3;
  bad = [
    1
    2
  ] ++ 3;
  l9 = 9;
in bad
