# A derivation's own path in a string brings its whole closure in as inputs: the derivations
# it leads to (with all their outputs), their sources and their text files.
let
  sh = { builder = "/bin/sh"; system = "x86_64-linux"; };
  a = derivation (sh // { name = "a"; outputs = [ "out" "doc" ]; src = ./closure.nix; });
  t = builtins.toFile "t" "refers to ${./drvs.nix}";
  b = derivation (sh // { name = "b"; inherit a t; });
  c = derivation (sh // { name = "c"; d = "${b.drvPath}"; });
in c
