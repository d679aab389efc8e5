# 10,000 levels: within what Nix 2.8's stack manages for every walk.
let
  deepList = builtins.foldl' (acc: _: [ acc ]) [ ] (builtins.genList (x: x) 10000);
  deepList2 = builtins.foldl' (acc: _: [ acc ]) [ ] (builtins.genList (x: x) 10000);
  deepSet = builtins.foldl' (acc: _: { a = acc; }) { } (builtins.genList (x: x) 10000);
  deepSet2 = builtins.foldl' (acc: _: { a = acc; }) { } (builtins.genList (x: x) 10000);
in [
  (deepList == deepList2)
  (deepSet == deepSet2)
  (builtins.lessThan deepList deepList2)
  (builtins.elem deepList [ 1 deepList2 ])
  (builtins.deepSeq deepList (builtins.deepSeq deepSet true))
  (builtins.stringLength (builtins.toJSON deepList))
  (builtins.stringLength (builtins.toJSON deepSet))
  (builtins.stringLength (toString deepList))
]
