# a string with context cannot be an attribute name
let s = builtins.appendContext "ctx" { "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x" = { path = true; }; }; in { ${s} = 1; }
