with builtins; [ (elemAt [ "a" "b" "c" ] 0) (elemAt [ "a" "b" "c" ] 2) (elemAt [ [ 1 ] ] 0) ]
