x: x ./a
