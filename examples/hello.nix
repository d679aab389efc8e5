# A small derivation: `ferrix instantiate examples/hello.nix` writes its `.drv` (and the
# copied builder script) into the store and prints the `.drv` path, as nix-instantiate does.
# `ferrix instantiate --parse examples/hello.nix` prints the expression back instead.
{ greeting ? "Hello" }:

let
  name = "world";
  shout = s: "${s}!";
in
derivation {
  name = "hello";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  args = [ ./hello-builder.sh ];
  message = shout "${greeting}, ${name}";
  outputs = [ "out" "doc" ];
}
