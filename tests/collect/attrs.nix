# A set whose attributes each make garbage and share state that is evaluated lazily along
# the way, for `-A a0 -A a1 ...` with collections between the attributes.
let
  shared = rec {
    base = builtins.genList (i: { n = i; s = "item-${toString i}"; }) 40;
    byName = builtins.listToAttrs (map (x: { name = x.s; value = x; }) base);
    add = a: b: a + b;
    add10 = add 10;
    long = builtins.concatStringsSep "" (builtins.genList (i: "abcdefgh") 64);
  };
  one = i:
    let
      garbage = builtins.genList (j: { j = j; t = "x${toString (i * j)}"; }) 3000;
      kept = builtins.filter (x: x.j == i) garbage;
    in derivation {
      name = "attr-${toString i}";
      system = "x86_64-linux";
      builder = "/bin/sh";
      args = [ "-c" "echo ${shared.long}" ];
      kept = map (x: x.t) kept;
      n = shared.add10 shared.byName."item-${toString i}".n;
    } // { inherit i; };
in builtins.listToAttrs (builtins.genList (i: { name = "a${toString i}"; value = one i; }) 12)
