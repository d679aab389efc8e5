[ (builtins.addErrorContext "ctx" 5) (builtins.addErrorContext "ctx" { a = 1; }) (builtins.tryEval (builtins.addErrorContext "ctx" (throw "x"))) ]
