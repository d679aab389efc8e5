[ (toString 1) (toString (-5)) (toString true) (toString false) (toString null) (toString "s") (toString [ ]) (toString [ 1 "a" null true [ 2 3 ] ]) (toString /x/y) ]
