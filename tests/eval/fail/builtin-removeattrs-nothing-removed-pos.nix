# A set from removeAttrs has no position of its own, even when nothing was removed: the
# error names the call, not the set literal.
builtins.listToAttrs [ (removeAttrs { name = "a"; } [ "x" ]) ]
