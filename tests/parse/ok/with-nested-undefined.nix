with {}; with {}; x + y
