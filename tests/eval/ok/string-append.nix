# Long strings built by appending share their prefix's bytes when nothing was written after
# it; a second append to the same prefix, or to a suffix of it, must not disturb the first.
let
  go = n: acc: if n == 0 then acc else go (n - 1) "${acc}${toString n},";
  long = go 200 "";
  a = long + "A";
  b = long + "B";
  c = "${a}tail";
  tailOfLong = builtins.substring 100 10000 long;
  d = tailOfLong + "D";
  e = "${long}E";
  withContext = "${builtins.toFile "f" "x"}" + long;
in {
  lengths = map builtins.stringLength [ long a b c d e ];
  ends = map (s: builtins.substring (builtins.stringLength s - 6) 6 s) [ long a b c d e ];
  distinct = [ (a == b) (a == long + "A") (b == long + "B") (e == long + "E") ];
  sameStart = builtins.substring 0 20 a == builtins.substring 0 20 e;
  context = builtins.attrNames (builtins.getContext withContext);
  numbers = builtins.length (builtins.filter (x: x != "") (builtins.split "," long));
}
