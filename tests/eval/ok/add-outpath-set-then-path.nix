# `set + path` where the set has `outPath` (nixpkgs' `profont`: `fetchzip { … } +
# /profont-x11`): the first operand is not a string, so Nix 2.8 does not copy the path to the
# store but appends it as it is.
let d = derivation { name = "src"; system = "x"; builder = "x"; }; in
[
  (d + /profont-x11)
  ({ outPath = "/a"; } + /b/c)
  ({ outPath = "/a"; } + /b + "x")
  ({ __toString = self: "pre"; } + /no/such/path)
  (builtins.getContext (d + /sub))
]
