with builtins; map (t: [ (hashFile t ../data/file.txt) (hashFile t ../data/empty.txt) ]) [ "md5" "sha1" "sha256" "sha512" ]
