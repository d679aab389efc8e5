(builtins.scopedImport { builtins = { map = 1; }; x = 0; y = 0; } ../data/scoped.nix).hasBuiltins
