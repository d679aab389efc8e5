let n = "b"; s = { a = 1; b = 2; "with space" = 3; }; in [ s.${n} s."with space" s.${"a"} (s.${n + "x"} or "none") ]
