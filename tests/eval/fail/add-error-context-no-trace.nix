builtins.addErrorContext "hidden without --show-trace" (throw "broken")
