builtins.appendContext "x" { "not-a-store-path" = { path = true; }; }
