# An error in the body of a curried function called with both arguments at once.
let
  f = x: y: if y > 1 then throw "y is ${toString y}" else x + y;
in builtins.foldl' f 0 [ 1 2 ]
