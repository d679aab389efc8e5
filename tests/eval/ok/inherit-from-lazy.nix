# the inherited-from expression is only evaluated when an attribute is used
let s = { x = 1; }; in builtins.attrNames { inherit (throw "never") a b; inherit (s) x; }
