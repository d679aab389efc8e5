# Arguments of the form `var op number` are computed at once when the variable is already a
# number, and otherwise stay lazy holding only the variable.
let
  fib = n: if n < 2 then n else fib (n - 1) + fib (n - 2);
  f = x: [ (x + 1) (x - 1.5) (2 * x) (x == 3) (3 != x) (x < 4) (x >= 4) (0.5 + x) ];
  lazy = x: { a = x + 1; b = x; };
  unused = g: g (throw "never forced" - 1);
  bad = x: (lazy x).b;
  big = n: n * 4611686018427387904;
in {
  fib = fib 15;
  ints = f 3;
  floats = f 2.5;
  lazyArg = (lazy (1 + 2)).a;
  notForced = unused (y: 7);
  stringOperand = bad "s";
  mixed = map (i: i - 1) [ 1 2.5 ];
  globals = let g = builtins.length; in [ (__currentTime - __currentTime) ];
  wraps = big 4;
  bools = map (x: [ (x == true) (x != null) ]) [ true null ];
}
