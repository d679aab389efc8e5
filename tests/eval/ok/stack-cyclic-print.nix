let x = { a = x; b = [ x ]; }; y = [ y ]; in [ x y ]
