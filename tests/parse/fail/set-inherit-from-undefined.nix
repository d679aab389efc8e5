{ inherit (x) a; }
