let a = with {}; b; in a
