with builtins; [ (substring 0 3 "hello") (substring 1 100 "hello") (substring 5 1 "hello") (substring 10 1 "hello") (substring 2 (-1) "hello") (substring 0 0 "x") (substring 1 2 "") ]
