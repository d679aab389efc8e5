with builtins; [ (map (x: x + 1) [ 1 2 ]) (map (x: x) [ ]) (map toString [ 1 true ]) (length (map (x: throw "lazy") [ 1 2 ])) (map head [ [ 1 ] [ 2 ] ]) ]
