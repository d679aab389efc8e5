x: ./a${x}b
