let a = { x = 1; }; l = [ 1 ]; in { p = a; q = a; r = [ l l ]; s = [ a ]; }
