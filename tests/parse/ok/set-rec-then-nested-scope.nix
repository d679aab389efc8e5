{ a = rec { b = c; }; a.c = 2; }
