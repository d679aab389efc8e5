let s = builtins.appendContext "x" { "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x" = { path = true; }; }; in
[ (builtins.getContext (builtins.toJSON [ s ])) (builtins.getContext (builtins.toXML s)) ]
