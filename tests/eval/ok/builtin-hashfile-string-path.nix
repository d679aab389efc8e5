builtins.hashFile "sha256" "${toString ../data/file.txt}"
