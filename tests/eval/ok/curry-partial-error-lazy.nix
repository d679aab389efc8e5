# a partial application does not check argument types yet
let f = builtins.add "not a number"; in builtins.typeOf f
