let
  sumTo = n: if n == 0 then 0 else n + sumTo (n - 1);
  count = builtins.foldl' (a: b: a + 1) 0 (builtins.genList (x: x) 100000);
in [ (sumTo 5000) count ]
