builtins.hashFile "sha256" ../data/nonexistent
