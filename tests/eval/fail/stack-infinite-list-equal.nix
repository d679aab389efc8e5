let f = x: [ (f x) ]; in (f 1) == (f 1)
