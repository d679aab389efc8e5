let
  p = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x";
  d = "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-y.drv";
  s = builtins.appendContext "str" { ${p} = { path = true; }; ${d} = { outputs = [ "out" "dev" ]; }; };
  t = builtins.appendContext "t" { ${d} = { allOutputs = true; }; };
in with builtins; [ s (getContext s) (hasContext s) (hasContext (unsafeDiscardStringContext s)) (getContext (s + "suffix")) (getContext "${s}") (getContext (substring 0 1 s)) (getContext t) (getContext (unsafeDiscardOutputDependency t)) ]
