[ null true false 0 (-1) 1.5 "s" [ ] { } [ [ ] ] { a = { }; } (x: x) builtins.add (builtins.add 1) /abs/path ]
