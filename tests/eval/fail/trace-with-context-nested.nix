builtins.addErrorContext "outer context" (builtins.addErrorContext "inner context" { x = 1 + "a"; }.x)
