# What a recursive call may not do: see or realise a valid path outside the input closure,
# or build a fixed-output derivation (it could reach the network). Each refused command's
# error output is kept in the output.
derivation {
  name = "refusals";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  requiredSystemFeatures = [ "recursive-nix" ];
  # A string without context: the path is valid, but not an input.
  unreachable = builtins.getEnv "UNREACHABLE";
  args = [ "-c" ''
    export PATH=/bin
    mkdir $out
    test -e $unreachable && echo visible > $out/visible
    nix-store -r $unreachable 2> $out/realise.err && echo realised > $out/realised
    nix-store -q --hash $unreachable 2> $out/query.err && echo queried > $out/queried
    nix-build --no-out-link -E '
      derivation {
        name = "fetched";
        system = builtins.currentSystem;
        builder = "/bin/sh";
        outputHashMode = "flat";
        outputHashAlgo = "sha256";
        outputHash = "00xyyr3fi8l6hb839bv3f7yb86yjv7xi1cgh1xnhipym4asvb4aq";
        args = [ "-c" "echo hello > $out" ];
      }
    ' 2> $out/fixed.err && echo built > $out/fixed-built
    true
  '' ];
}
