rec { a = "x"; ${a} = 1; b = a + "y"; ${b} = a; }
