# Derivations of every kind, as `nix-instantiate` prints them: a list, a set searched in name
# order (nested sets only with recurseForDerivations), outputs other than `out` with `!`.
let
  sh = { builder = "/bin/sh"; system = "x86_64-linux"; };
  a = derivation (sh // { name = "a"; args = [ "-c" "echo hi > $out" ]; });
  b = derivation (sh // { name = "b"; src = ./drvs.nix; dep = a; outputs = [ "out" "dev" ]; });
  f = derivation (sh // { name = "f"; outputHash = "sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="; outputHashMode = "recursive"; });
  g = derivation (sh // {
    name = "g";
    inherit f;
    t = builtins.toFile "t" "x${./drvs.nix}";
    p = builtins.path { path = ./.; name = "dir"; filter = p: t: baseNameOf p == "drvs.nix"; };
    ph = builtins.placeholder "out";
    __structuredAttrs = true;
    n = null;
    l = [ 1 2.5 "x" true ];
  });
  fetched = import <nix/fetchurl.nix> {
    url = "http://example.com/x.tar.gz";
    sha256 = "1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s";
  };
in [
  a b b.dev f g fetched
  {
    z = a;
    y = b;
    nested = { recurseForDerivations = true; inner = f; };
    hidden = { inner = g; };
    notADrv = 1;
  }
]
