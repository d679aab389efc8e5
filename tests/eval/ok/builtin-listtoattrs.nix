with builtins; [ (listToAttrs [ { name = "a"; value = 1; } { name = "b"; value = 2; } ]) (listToAttrs [ ])
  (listToAttrs [ { name = "x"; value = "first"; } { name = "x"; value = "second"; } ])
  ((listToAttrs [ { name = "lazy"; value = throw "not forced"; } ]) ? lazy)
  (listToAttrs [ { name = "e"; value = 1; extra = true; } ]) ]
