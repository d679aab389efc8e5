with builtins; [ (zipAttrsWith (name: values: values) [ { a = 1; b = 2; } { a = 3; c = 4; } ]) (zipAttrsWith (n: v: n) [ ]) (zipAttrsWith (n: v: length v) [ { x = 1; } { x = 2; } { y = 3; } ]) ]
