builtins.trace "a trace message" (builtins.trace { a = 1; } 5)
