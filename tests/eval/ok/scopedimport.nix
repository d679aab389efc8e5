[ (builtins.scopedImport { x = 1; y = 2; } ../data/scoped.nix) (builtins.scopedImport { x = "a"; y = "b"; toString = _: "overridden"; } ../data/scoped.nix) ]
