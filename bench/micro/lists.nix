# Lists: genList, foldl' and sort.
let
  xs = builtins.genList (i: (i * 7919) - (i / 13) * 100003) 100000;
  sum = builtins.foldl' (a: b: a + b) 0 xs;
  sorted = builtins.sort (a: b: a < b) xs;
in sum + builtins.head sorted + builtins.length sorted
