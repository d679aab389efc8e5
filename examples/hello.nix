# A small Nix expression: `ferrix instantiate --parse examples/hello.nix` prints it back,
# fully parenthesised and with every variable checked.
{ lib ? null, greeting ? "Hello" }:

let
  name = "world";
  shout = s: "${s}!";
in
{
  message = shout "${greeting}, ${name}";
  answer = 6 * 7 - 1 + 1;
  tags = [ "a" "b" ] ++ [ "c" ];
  nested.value = if lib == null then ./default.nix else lib.id;
  indented = ''
    line one
      line two
  '';
}
