with builtins; [ (split "x*" "abc") (split "(x*)" "ab") (split "a*" "baaac") (split "" "ab") ]
