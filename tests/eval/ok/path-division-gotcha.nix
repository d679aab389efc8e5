# 1.0/3 without spaces is a path, not a division
[ (builtins.typeOf (1.0/3)) (1.0/3 == ./1.0/3) (toString a/b) ]
