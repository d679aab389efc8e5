with builtins; [ (replaceStrings [ "o" ] [ "0" ] "foo boo") (replaceStrings [ "oo" "o" ] [ "X" "Y" ] "foooo o") (replaceStrings [ "" ] [ "-" ] "abc") (replaceStrings [ "a" "" ] [ "A" "_" ] "xay")
  (replaceStrings [ ] [ ] "same") (replaceStrings [ "x" ] [ "" ] "xaxbx") (replaceStrings [ "ab" "b" ] [ "1" "2" ] "abb") (replaceStrings [ "" ] [ "+" ] "") (replaceStrings [ "a" ] [ "aa" ] "aaa") ]
