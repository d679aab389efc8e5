import "relative/path.nix"
