x: y: [ x y ]
