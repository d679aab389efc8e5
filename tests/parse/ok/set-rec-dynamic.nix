x: rec { a = 1; ${x} = a; }
