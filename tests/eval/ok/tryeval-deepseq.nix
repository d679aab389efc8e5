[ (builtins.tryEval (builtins.deepSeq [ 1 (throw "deep") ] 1)) (builtins.tryEval (builtins.deepSeq { a.b.c = 1; } 2)) ]
