# Five derivations: a fixed-output leaf, a dependency shared by two others, and a top.
let
  mk = name: script: derivation {
    inherit name;
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" script ];
  };
  leaf = derivation {
    name = "leaf";
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" "echo fixed > $out" ];
    outputHashMode = "flat";
    outputHashAlgo = "sha256";
    outputHash = builtins.hashString "sha256" "fixed\n";
  };
  shared = mk "shared" "mkdir $out; echo shared > $out/s; cat ${leaf} >> $out/s; ln -s s $out/link";
  a = mk "a" "echo a ${shared} > $out";
  b = mk "b" "mkdir -p $out/bin; echo 'echo b ${shared}' > $out/bin/b; chmod +x $out/bin/b";
in
mk "top" "mkdir $out; echo ${a} ${b} > $out/refs; echo cores=$NIX_BUILD_CORES"
