let
  p = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x";
  s = builtins.appendContext "ctx" { ${p} = { path = true; }; };
  has = builtins.hasContext;
in [ (has (builtins.replaceStrings [ "c" ] [ "C" ] s)) (has (builtins.concatStringsSep "," [ s "x" ])) (has (toString [ s ])) (has (builtins.baseNameOf s)) (has (builtins.toJSON { inherit s; }))
  (has (builtins.elemAt (builtins.split "t" s) 0)) (has (builtins.replaceStrings [ "x" ] [ s ] "axb")) ]
