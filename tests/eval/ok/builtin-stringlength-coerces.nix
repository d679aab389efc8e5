with builtins; [ (stringLength { outPath = "xyz"; }) ]
