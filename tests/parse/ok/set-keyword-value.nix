{ a = if true then 1 else 2; b = let c = 1; in c; c = with {}; 1; d = assert true; 2; }
