let { body = x; x = 1; }
