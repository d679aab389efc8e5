builtins.replaceStrings [ "a" "b" ] [ "x" ] "abc"
