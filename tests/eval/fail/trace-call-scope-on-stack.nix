# An error inside a function whose scope is on the stack still shows every frame.
let
  check = x: if x > 2 then throw "too big: ${toString x}" else x;
  sum = { a, b }: check a + check b;
in sum { a = 1; b = 3; }
