let x = [ x ]; y = [ y ]; in builtins.elem x [ y ]
