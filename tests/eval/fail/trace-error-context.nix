builtins.addErrorContext "while doing the thing" (throw "broken")
