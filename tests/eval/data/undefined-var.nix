undefinedVariableHere + 1
