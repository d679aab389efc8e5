# Overlapping graphs for parallel builds: every top of a round shares `a` and `b` (and
# `b` needs `a`), so parallel builds of the tops race for the same outputs.
{ round, top, sleep ? "0" }:
let
  mk = name: script: derivation {
    inherit name;
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" script ];
  };
  a = mk "a-${round}" "echo a > $out";
  b = mk "b-${round}" "mkdir $out; cat ${a} > $out/b; echo b >> $out/b";
in
mk "top-${round}-${top}" "sleep ${sleep}; echo ${top} ${b} > $out"
