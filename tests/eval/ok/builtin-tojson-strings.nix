map builtins.toJSON [ (builtins.fromJSON ''"\u0001\u001f\u007f é \u2028"'') "tab\there" "a/b" "\r" "\${x}" ]
