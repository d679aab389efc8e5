builtins.stringLength 123
