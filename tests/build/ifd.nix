# Import from derivation: evaluation needs the outputs of `bar` and `data`, so it builds
# them first (as Nix 2.8's tests/import-derivation.nix and readfile-context.nix do).
let
  mk = name: script: derivation {
    inherit name;
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" script ];
  };
  bar = mk "bar" "echo 'builtins.add 123 456' > $out";
  data = mk "data" "mkdir $out; echo hello > $out/greeting";
  value = assert builtins.pathExists bar; import bar;
in
mk "foo" "printf '%s' 'FOO${toString value}-${builtins.readFile "${data}/greeting"}' > $out"
