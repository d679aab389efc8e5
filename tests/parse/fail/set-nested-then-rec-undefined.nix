{ a.c = 2; a = rec { b = c; }; }
