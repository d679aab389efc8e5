builtins.unsafeGetAttrPos "a" 1
