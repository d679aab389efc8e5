with {}; rec { a = b; }
