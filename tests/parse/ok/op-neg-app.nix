f: x: -f x
