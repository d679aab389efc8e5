/a/b/c.nix
