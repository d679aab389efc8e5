x: y: x//y
