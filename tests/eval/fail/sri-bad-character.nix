# A character outside base 64 before any `=` is an error in Nix 2.8 too.
(derivation {
  name = "x";
  system = "x";
  builder = "x";
  outputHashMode = "flat";
  outputHash = "sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0 =";
}).outPath
