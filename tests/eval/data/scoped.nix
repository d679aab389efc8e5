# free variables are fine under scopedImport
{ sum = x + y; hasBuiltins = builtins ? map; str = toString 1; }
