let
  d = "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-y.drv";
  a = builtins.appendContext "a" { ${d} = { outputs = [ "out" ]; }; };
  b = builtins.appendContext "b" { ${d} = { outputs = [ "dev" "out" ]; path = true; }; };
in builtins.getContext (a + b)
