with builtins; [ (deepSeq [ 1 2 ] "ok") (deepSeq { a.b = 1; } 2) (deepSeq (x: throw "fn bodies are not forced") 3) (tryEval (deepSeq [ [ (throw "deep") ] ] 4)) ]
