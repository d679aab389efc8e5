let
  outer = a: inner a;
  inner = b: builtins.length b;
in outer 5
