# __structuredAttrs puts the attributes in __json; __ignoreNulls drops nulls.
let
  d = derivation {
    name = "s";
    builder = "/bin/sh";
    system = "x86_64-linux";
    __structuredAttrs = true;
    outputs = [ "out" "bin" ];
    n = null;
    l = [ 1 2.5 "x" true { a = 1; } ];
    f = ./../data/file.txt;
    dep = derivation { name = "dep"; builder = "/bin/sh"; system = "x86_64-linux"; };
  };
  i = derivation { name = "i"; builder = "/bin/sh"; system = "x86_64-linux"; __ignoreNulls = true; n = null; };
  j = derivation { name = "i"; builder = "/bin/sh"; system = "x86_64-linux"; };
  k = derivation { name = "i"; builder = "/bin/sh"; system = "x86_64-linux"; n = null; };
in [ d.drvPath d.bin.outPath (i.drvPath == j.drvPath) (i.drvPath == k.drvPath) ]
