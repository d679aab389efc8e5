x: with { or = 1; }; x or
