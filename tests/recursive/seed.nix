# The seed's example, in small: the builder builds an inner derivation with `nix-build -E`
# through the recursive Nix socket, runs it, and links it from its output; it also adds a
# file to the store and links that.
derivation {
  name = "recursive";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  requiredSystemFeatures = [ "recursive-nix" ];
  dummy = builtins.toFile "dummy" "bla bla";
  args = [ "-c" ''
    set -e
    export PATH=/bin
    # A path of the input closure can be queried and realised.
    nix-store -q --hash $dummy > /dev/null
    nix-store -r $dummy > /dev/null
    hello=$(nix-build --no-out-link -E '
      derivation {
        name = "hello-3.5";
        system = builtins.currentSystem;
        builder = "/bin/sh";
        greeting = builtins.toFile "greeting" "Hello, world!";
        args = [ "-c" "mkdir -p $out/bin; printf \"#! /bin/sh\\ncat $greeting; echo\\n\" > $out/bin/hello; chmod +x $out/bin/hello" ];
      }
    ')
    # It appeared in the sandbox.
    $hello/bin/hello
    # Impure metadata is hidden from the builder.
    test "$(nix-store -q --deriver $hello)" = unknown-deriver
    echo foobar > foobar
    foobar=$(nix-store --add ./foobar)
    cat $foobar
    mkdir -p $out/bin
    ln -s $hello/bin/hello $out/bin/hello
    ln -s $foobar $out/foobar
  '' ];
}
