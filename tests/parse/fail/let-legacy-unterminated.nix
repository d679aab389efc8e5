let { a = 1;
