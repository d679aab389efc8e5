# Nix 2.8's own nix-store and nix-build as the recursive calls' client.
derivation {
  name = "nix28-client";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  requiredSystemFeatures = [ "recursive-nix" ];
  dummy = builtins.toFile "dummy" "bla bla";
  args = [ "-c" ''
    set -e
    export HOME=$NIX_BUILD_TOP
    /usr/bin/nix-store -q --hash $dummy
    inner=$(/usr/bin/nix-build --no-out-link -E '
      derivation {
        name = "inner";
        system = builtins.currentSystem;
        builder = "/bin/sh";
        args = [ "-c" "mkdir $out; echo nix28 > $out/f" ];
      }
    ')
    cat $inner/f
    mkdir $out
    ln -s $inner $out/inner
  '' ];
}
