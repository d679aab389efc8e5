with builtins; [ (concatLists [ [ 1 ] [ 2 3 ] [ ] [ [ 4 ] ] ]) (concatLists [ ]) (concatMap (x: [ x x ]) [ 1 2 ]) (concatMap (x: [ ]) [ 1 2 ]) ]
