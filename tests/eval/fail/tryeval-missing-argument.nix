builtins.tryEval (({ a }: a) { })
