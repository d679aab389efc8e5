builtins.hashFile "crc32" ../data/file.txt
