# Functions whose bodies keep no reference to their scope run with the scope on the stack;
# results must not depend on that, including when a later call reuses the same stack.
let
  pred = x: x > 99990;
  sum = { a, b }: a + b;
  pick = s: s.a.b or (s.c + 1);
  inner = x: builtins.add x 1;
  outer = x: inner (inner x);
  findFirstIndex = p: list:
    builtins.foldl' (index: el: if index < 0 then (if p el then - index - 1 else index - 1) else index) (-1) list;
  keep = x: { v = x; twice = x + x; };
  kept = map keep [ 1 2 3 ];
  str = x: "${x}-${toString (builtins.stringLength x)}";
in {
  idx = findFirstIndex pred (builtins.genList (i: i) 100000);
  sums = map (x: sum { a = x; b = x * 10; }) [ 1 2 3 ];
  picks = [ (pick { a.b = 1; }) (pick { a = { }; c = 41; }) ];
  nested = outer (outer 1);
  kept = map (k: k.twice) kept;
  strs = map str [ "a" "bc" ];
  sorted = builtins.sort (a: b: a > b) [ 3 1 2 5 4 ];
  all = builtins.all (x: x < 10) [ 1 2 3 ];
  filtered = builtins.filter (x: x / 2 * 2 == x) (builtins.genList (i: i) 10);
}
