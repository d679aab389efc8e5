with builtins; map typeOf [ 1 1.5 "s" true null [ ] { } (x: x) map (map (x: x)) /p { __functor = self: x: x; } ./. ]
