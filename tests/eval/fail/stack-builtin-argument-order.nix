# `filter` checks its function before it evaluates the list, so the type error wins over
# the list's own error even though neither argument has an arena thunk.
builtins.filter (1 + 1) (throw "the list")
