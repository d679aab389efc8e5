# builtins.match over many strings.
let
  names = builtins.genList (i: "pkg-${toString i}.${toString (i * 3)}-rc${toString (i / 7)}") 20000;
  parsed = map (s: builtins.match "([a-z]+)-([0-9]+)\\.([0-9]+)(-rc([0-9]+))?" s) names;
in builtins.length (builtins.filter (x: x != null) parsed)
