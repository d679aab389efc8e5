builtins.listToAttrs [ { name = "ok"; value = 1; } { name = 2; value = 3; } ]
