x: x-1
