# __overrides only has an effect in rec sets
{ a = 1; __overrides = { a = 2; }; }
