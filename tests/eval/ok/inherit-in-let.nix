let s = { p = 5; }; in let inherit (s) p; q = p * 2; in [ p q ]
