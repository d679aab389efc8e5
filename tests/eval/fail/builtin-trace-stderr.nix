# trace output goes to stderr, before the error
builtins.trace "message one" (builtins.trace [ 1 "two" { three = 3; } ] (throw "after tracing"))
