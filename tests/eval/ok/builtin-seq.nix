with builtins; [ (seq 1 2) (seq [ (throw "shallow") ] 3) (seq { a = throw "shallow"; } 4) (seq (x: x) 5) ]
