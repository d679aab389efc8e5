builtins.scopedImport 1 ../data/simple.nix
