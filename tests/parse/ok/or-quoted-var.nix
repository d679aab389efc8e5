x: { "or" = x; }
