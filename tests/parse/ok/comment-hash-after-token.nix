x: x#c
