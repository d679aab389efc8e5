let check = v: assert builtins.isInt v; v; in map check [ 1 "x" ]
