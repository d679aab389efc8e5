[ assert true; 1 ]
