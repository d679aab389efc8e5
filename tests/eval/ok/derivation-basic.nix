# A plain derivation: its paths, the attributes of the result, and what ends up in the
# .drv through string contexts.
let
  a = derivation { name = "a"; builder = "/bin/sh"; system = "x86_64-linux"; args = [ "-c" "echo hi > $out" ]; };
  b = derivation {
    name = "b";
    builder = "/bin/sh";
    system = "x86_64-linux";
    outputs = [ "out" "dev" "lib" ];
    dep = a;
    num = 3;
    fl = 1.5;
    yes = true;
    no = false;
    nul = null;
    lst = [ 1 "two" [ 3 ] null true ];
    src = ./../data/file.txt;
  };
in {
  inherit (a) drvPath outPath name type outputName system builder;
  aAll = map (o: o.outputName) a.all;
  bOuts = map (o: [ o.outputName o.outPath o.drvPath ]) b.all;
  bDev = b.dev.outPath;
  bLibOutput = b.lib.outputName;
  same = b.dev.drvPath == b.drvPath;
  drvAttrs = builtins.attrNames b.drvAttrs;
  attrs = builtins.attrNames b;
  ctx = builtins.getContext (b.drvPath + b.dev.outPath + a.outPath);
  strictA = builtins.attrNames (derivationStrict { name = "a"; builder = "/bin/sh"; system = "x86_64-linux"; });
}
