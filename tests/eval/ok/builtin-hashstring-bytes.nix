with builtins; [ (hashString "sha256" "é") (hashString "md5" "\n") (hashString "sha1" (fromJSON ''"\u0000"'')) ]
