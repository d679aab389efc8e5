x: (x).a or 2
