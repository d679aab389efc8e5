# comparison stops at the first difference
[ ([ 1 (throw "x") ] == [ 2 (throw "y") ]) ({ a = 1; b = throw "x"; } == { a = 2; b = throw "y"; }) ([ 1 ] == [ 1 (throw "x") ]) ]
