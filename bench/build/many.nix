# 200 trivial independent derivations, all inputs of one top-level derivation.
let
  mk = i: derivation {
    name = "trivial-${toString i}";
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" "echo ${toString i} > $out" ];
  };
  all = builtins.genList mk 200;
in
derivation {
  name = "all";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  args = [ "-c" "echo ${toString all} > $out" ];
}
