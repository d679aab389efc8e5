with {}; let a = b; in a
