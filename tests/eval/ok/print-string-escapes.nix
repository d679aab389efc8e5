[ "\n\t\r" "\"" "\\" "\${" "$" "a\${b}" (builtins.fromJSON ''"\u0001\u007f"'') ]
