# Several attributes for `--workers`: derivations, a trace, a list, a failure in the middle,
# and plain values for `--eval`.
let
  mk = n: derivation { name = n; system = "x86_64-linux"; builder = "/bin/sh"; };
in
{
  a = mk "a";
  b = builtins.trace "evaluating b" (mk "b");
  c = [ (mk "c1") (mk "c2") ];
  d = throw "d fails";
  e = mk "e";
  v = 1;
  w = { x = [ 2 3 ]; };
}
