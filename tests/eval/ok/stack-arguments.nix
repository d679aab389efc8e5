# genList's index and foldl''s accumulator live on the stack only when the function cannot
# keep them; every function here that can keep them must still see the right values later.
let
  keepIndex = builtins.genList (i: [ i (i + 1) ]) 5;
  keepInSet = builtins.genList (i: { inherit i; j = i * 2; }) 4;
  strictIndex = builtins.genList (i: i * i + 2000) 5;
  keepAcc = builtins.foldl' (acc: x: [ acc x ]) 0 [ 1 2 3 ];
  keepAccSet = builtins.foldl' (acc: x: { prev = acc; inherit x; }) null [ 1 2 ];
  strictAcc = builtins.foldl' (acc: x: acc + x) 0 (builtins.genList (i: i + 5000) 100);
  accAsArg = builtins.foldl' (acc: x: builtins.seq acc (acc ++ [ x ])) [ ] [ 1 2 3 ];
  lazyArith = builtins.foldl' (acc: x: builtins.head [ (acc + x) ]) 0 [ 1 2 3 4 ];
  names = builtins.mapAttrs (name: value: "${name}=${toString value}") { a = 1; b = 2; };
  namesKept = builtins.mapAttrs (name: value: [ name value ]) { x = 1; y = 2; };
  sameName = builtins.attrNames { a = 1; b = 2; } ++ builtins.attrNames { b = 3; c = 4; };
in {
  inherit keepIndex keepInSet strictIndex keepAcc keepAccSet strictAcc accAsArg lazyArith names namesKept sameName;
}
