# `"${toString e}"` gives what `toString` gives, for every kind of value.
let
  i = 7;
  drv = derivation { name = "d"; system = "x"; builder = "/b"; };
  withOut = { outPath = "/some/out"; };
  withToString = { __toString = self: "custom-${toString self.n}"; n = 3; };
in {
  values = [
    "${toString i}|${toString (i * 3)}|${toString (i / 2)}|${toString (i - 10)}"
    "${toString 1.5}|${toString true}|${toString false}|${toString null}"
    "${toString [ 1 "a" null [ 2 3 ] true ]}|${toString []}"
    "${toString ./interpolate-tostring.nix}"
    "${toString withOut}|${toString withToString}"
    "${toString "plain"}${toString ''multi''}"
  ];
  shadowed = let toString = x: "mine"; in "${toString 1}";
  viaBuiltins = "${builtins.toString 12}";
  context = builtins.getContext "${toString drv}";
  nested = "${toString "${toString i}${toString i}"}";
}
