(import "${toString ../data}/simple.nix").a
