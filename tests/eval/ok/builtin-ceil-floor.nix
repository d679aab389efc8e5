with builtins; [ (ceil 1.1) (ceil (-1.1)) (floor 1.9) (floor (-1.1)) (ceil 2) (floor 3) (ceil 1.0) (floor (-0.5)) (typeOf (ceil 1.5)) (ceil 1.0e15) ]
