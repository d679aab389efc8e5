[ 1 (1 + 1) "s" (throw "no") [ (throw "inner") ] { a = throw "z"; } null ]
