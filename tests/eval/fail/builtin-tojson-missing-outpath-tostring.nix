builtins.toJSON { __toString = self: 1; }
