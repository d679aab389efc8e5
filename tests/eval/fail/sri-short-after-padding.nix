# Decoding stops at the first `=`: what comes before must still be the whole digest.
(derivation {
  name = "x";
  system = "x";
  builder = "x";
  outputHashMode = "flat";
  outputHash = "sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3q=ctBD/YfIAFa0";
}).outPath
