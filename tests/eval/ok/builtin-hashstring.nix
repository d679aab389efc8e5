with builtins; map (t: [ (hashString t "") (hashString t "hello world") ]) [ "md5" "sha1" "sha256" "sha512" ]
