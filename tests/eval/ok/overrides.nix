rec { a = b + 1; b = 1; __overrides = { b = 10; c = 3; }; }
