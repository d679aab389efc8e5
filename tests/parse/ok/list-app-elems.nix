f: x: [ f x ]
