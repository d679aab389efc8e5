let x = [ x ]; y = [ y ]; in builtins.lessThan x y
