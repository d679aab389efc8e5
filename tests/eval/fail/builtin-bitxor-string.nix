builtins.bitXor 1 "2"
