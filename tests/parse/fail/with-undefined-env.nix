with x; 1
