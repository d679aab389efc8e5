# Builtins that do not keep their arguments get them as thunks on the caller's stack:
# they still evaluate lazily, in the builtin's own order, and a failed argument can be
# forced again (tryEval) with the same result.
let
  xs = [ 1 2 3 4 ];
  f = x: builtins.filter (y: y > x) (map (z: z * 2) xs);
  bad = builtins.tryEval (builtins.length (throw "not a list"));
  again = builtins.tryEval (builtins.length (throw "not a list"));
  keep = map (x: [ x ]) (builtins.filter (x: x != 2) xs);
  lazyF = builtins.genList (i: i * 10) (builtins.length xs);
in {
  filtered = f 3;
  inherit bad again keep lazyF;
  anyAll = [ (builtins.any (x: x > 3) (builtins.tail xs)) (builtins.all (x: x > 0) (builtins.concatLists [ xs [ 5 ] ])) ];
  elems = [ (builtins.elem (1 + 1) xs) (builtins.elemAt (builtins.concatMap (x: [ x x ]) xs) 3) ];
  types = map builtins.typeOf [ (builtins.head xs) (toString (builtins.length xs)) (builtins.attrNames { b = 1; a = 2; }) ];
  seqd = builtins.seq (builtins.isAttrs { }) (builtins.hasAttr "a" { a = 1; });
  values = builtins.attrValues (builtins.mapAttrs (n: v: v + 1) { x = 1; y = 2; });
}
