{ inherit (x) y; x = { }; }
