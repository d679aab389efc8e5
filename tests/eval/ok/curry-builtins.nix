let
  incAll = builtins.map (x: x + 1);
  addTen = builtins.add 10;
  sub = builtins.sub;
  foldSum = builtins.foldl' builtins.add 0;
  keep = builtins.filter;
in [ (incAll [ 1 2 ]) (addTen 5) (sub 3 1) (foldSum [ 1 2 3 ]) (keep (x: x) [ true false ]) (builtins.typeOf addTen) (builtins.isFunction incAll) ]
