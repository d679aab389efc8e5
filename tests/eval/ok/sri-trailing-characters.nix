# SRI hashes with characters after the base-64 padding, as in nixpkgs (`journalist` ends in
# `=s`, `guake` in `= `, `spidermonkey_78` is `sha512-…===`): Nix 2.8 stops decoding at the
# first `=` and ignores newlines.
let
  out = h: (derivation {
    name = "x";
    system = "x";
    builder = "x";
    outputHashMode = "flat";
    outputHash = h;
  }).outPath;
in [
  (out "sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=")
  (out "sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=s")
  (out "sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0= ")
  (out "sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0")
  (out "sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0==anything at all")
  (out "sha256-ungWv48Bz+pBQUDeXa4iI7\nADYaOWF3qctBD/YfIAFa0=")
  (out "sha512-3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/BqDa6PCOj/uu9RU1EI2Q86A4qmslPpUyknw===")
]
