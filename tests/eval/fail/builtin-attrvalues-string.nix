builtins.attrValues "s"
