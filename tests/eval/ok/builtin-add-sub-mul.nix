with builtins; [ (add 1 2) (add 1.5 2) (add 1 2.5) (sub 10 3) (sub 1.0 3) (mul 6 7) (mul 2 0.5) (add (-1) 1) (__add 3 4) (__sub 3 4) (__mul 3 4) (__div 9 4) ]
