{ a ? 1, b, ... }@args: a + b + builtins.length (builtins.attrNames args)
