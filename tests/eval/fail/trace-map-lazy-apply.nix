# `map` applies lazily; Nix calls the function without a call-site position.
let l = map (x: if x == 2 then throw "bad ${toString x}" else x) [ 1 2 ];
in builtins.elemAt l 0 + builtins.elemAt l 1
