# A value is equal to itself without a walk, however deep it is.
let d = builtins.foldl' (acc: _: [ acc ]) [ ] (builtins.genList (x: x) 1000000); in d == d
