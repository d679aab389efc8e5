with builtins; [ (match "ab" "ab") (match "ab" "abc") (match "a(b)c" "abc") (match "(a)(b)?" "a") (match ".*" "") (match "[[:digit:]]+" "123") (match "([[:alpha:]]+)-([0-9]+)" "foo-42")
  (match "(.*)\\.nix" "default.nix") (match "a|b" "b") (match "x" "X") (match "(x)|(y)" "y") (match "a{2,3}" "aaa") (match "[^a]*" "bcd") ]
