rec { a = "x"; ${a} = 1; b = x + 1; }
