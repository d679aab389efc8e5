x: y: ./a${x}${y}
