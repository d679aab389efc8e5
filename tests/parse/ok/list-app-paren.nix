f: x: [ (f x) ]
