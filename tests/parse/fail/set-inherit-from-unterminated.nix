{ inherit (x
