{ inherit a; }
