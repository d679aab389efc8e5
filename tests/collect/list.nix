# A list whose items each make garbage (lists, sets, strings, scopes) and share state that
# is evaluated lazily along the way, for `--eval --strict` with collections between items.
let
  shared = rec {
    base = builtins.genList (i: { n = i; s = "item-${toString i}"; }) 40;
    byName = builtins.listToAttrs (map (x: { name = x.s; value = x; }) base);
    doubled = builtins.mapAttrs (name: x: x.n * 2) byName;
    add = a: b: a + b;
    add10 = add 10;
    elemAt = builtins.elemAt;
    long = builtins.concatStringsSep "" (builtins.genList (i: "abcdefgh") 64);
    drv = derivation { name = "collected"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo ${long}" ]; };
  };
  step = i:
    let
      garbage = builtins.genList (j: { j = j; t = "x${toString (i * j)}"; }) 2000;
      kept = builtins.filter (x: x.j == i) garbage;
      layered = (shared.byName // { extra = i; }) // { more = i * 2; };
      withed = with shared; add10 (elemAt base (builtins.div i 2)).n;
    in {
      inherit i withed;
      kept = map (x: x.t) kept;
      doubled = shared.doubled."item-${toString i}";
      layered = builtins.attrNames (builtins.removeAttrs layered [ "item-0" ]) == builtins.attrNames layered;
      str = builtins.substring (i * 7) 20 (shared.long + "${toString i}" + shared.long);
      drv = if builtins.div i 10 * 10 == i then shared.drv.drvPath + "/${toString i}" else null;
      count = builtins.length (builtins.attrNames layered);
    };
in builtins.genList step 40
