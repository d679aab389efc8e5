# `f x y` on `x: y: body` runs without the intermediate closure; everything observable
# must stay as with one-at-a-time calls.
let
  add = x: y: x + y;
  keep = x: y: { inherit x y; sum = x + y; };
  three = a: b: c: a * 100 + b * 10 + c;
  pairs = x: y: [ x y ];
  functor = { __functor = self: x: y: self.base + x + y; base = 1000; };
  partial = add 5;
  withFormals = { a }: y: a + y;
  shadow = x: x: x;
in {
  a = add 1 2;
  k = (keep 1 2).sum + (keep 3 4).x;
  t = [ (three 1 2 3) (three 4 5 6) ((three 7) 8 9) (three 1 2 (three 0 0 3)) ];
  p = pairs 1 2;
  f = functor 1 2;
  pa = partial 10;
  wf = withFormals { a = 2; } 3;
  sh = shadow 1 2;
  fold = builtins.foldl' add 0 (builtins.genList (i: i) 1000);
  foldSets = (builtins.foldl' (acc: x: acc // { "k${toString x}" = x; }) { } [ 1 2 3 ]);
  sorted = builtins.sort (a: b: a < b) [ 5 3 9 1 ];
  primop = builtins.add 1 2;
  gen = builtins.genList (i: i * i) 5;
  genNested = builtins.genList (i: builtins.genList (j: i + j) 3) 3;
}
