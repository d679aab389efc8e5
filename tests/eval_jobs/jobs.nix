# What `ferrix eval-jobs` walks: derivations at the top, sets it recurses into
# (recurseForDerivations) and sets it does not, a failing attribute, a function called
# with the `--arg`s, several outputs, and a name with a dot.
{ suffix ? "" }:
let
  mk = name: derivation {
    name = name + suffix;
    system = "x86_64-linux";
    builder = "/bin/sh";
    args = [ "-c" "echo ${name} > $out" ];
  };
in
{
  a = mk "a";
  multi = derivation {
    name = "multi";
    system = "x86_64-linux";
    builder = "/bin/sh";
    outputs = [ "out" "dev" ];
  };
  bad = throw "this attribute fails";
  badInside = mk (throw "so does this one");
  notRecursed = { x = mk "x"; };
  nested = {
    recurseForDerivations = true;
    y = mk "y";
    "with.dot" = mk "dotted";
    deeper = {
      recurseForDerivations = true;
      z = mk "z";
    };
  };
  number = 42;
  fn = { k ? "1" }: mk "fn${k}";
}
