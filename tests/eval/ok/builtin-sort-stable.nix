let
  xs = builtins.genList (i: { k = builtins.bitAnd i 3; i = i; }) 40;
  sorted = builtins.sort (a: b: a.k < b.k) xs;
in map (x: "${toString x.k}:${toString x.i}") sorted
