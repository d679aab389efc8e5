import ./simple.nix
