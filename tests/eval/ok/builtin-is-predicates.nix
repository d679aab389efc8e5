let vals = [ 1 1.5 "s" true null [ ] { } (x: x) builtins.map (builtins.map (x: x)) /p ]; in
with builtins; map (p: map p vals) [ isInt isFloat isString isBool isNull isList isAttrs isFunction isPath ]
