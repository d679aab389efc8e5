# Recursive Nix without the sandbox: the builder runs on the host, and its calls reach the
# same restricted daemon.
let ferrix = builtins.getEnv "FERRIX"; in
derivation {
  name = "unsandboxed";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  requiredSystemFeatures = [ "recursive-nix" ];
  args = [ "-c" ''
    set -e
    export PATH=/bin:/usr/bin
    inner=$(${ferrix} build --no-out-link -E '
      derivation {
        name = "inner";
        system = builtins.currentSystem;
        builder = "/bin/sh";
        args = [ "-c" "echo inner > $out" ];
      }
    ')
    cat $inner
    mkdir $out
    ln -s $inner $out/inner
  '' ];
}
