let a = 1; b = a + 1; c = b * 10; in [ a b c ]
