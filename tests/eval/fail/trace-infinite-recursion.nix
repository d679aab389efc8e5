let a = { x = a.y; y = a.x; }; in a.x
