builtins.sort (a: b: a.k < b.k) [ { k = 1; } { } ]
