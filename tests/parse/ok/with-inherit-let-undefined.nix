with {}; let inherit a; in a
