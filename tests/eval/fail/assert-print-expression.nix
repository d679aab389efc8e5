# Nix prints the failed assertion's expression back from the AST (desugared: n > 0 is __lessThan 0 n)
let f = n: assert n > 0 && { a = 1; }.a or 2 == "x${toString n}" && [ 1 ] != [ ] && (x: x) == null && !true && -n < 1
  && ./p == /a && (let y = 1; in y == 1) && rec { z = 1; }.z == 1 && (with { a = 1; }; a) == 2 && (if true then 1 else 2) == 1
  && builtins.isInt (n // { }) && 1.5 == 2 && (null -> false) || true && "a\n\"${"x"}" == "" && ({ a, b ? 1, ... }@c: a) == 1
  && n ? a.b && [ 1 2 ] ++ [ 3 ] == [ ] && 1 - 2 * 3 / 4 + 5 == 0 && __curPos == null && <nixpkgs> == 1 && ''i'' == ""
  && (assert true; 1) == 2 && n >= 1 && n <= 1 && { inherit n; inherit (n) m; "q r" = 1; ${"d"} = 2; } == { }; n; in f 1
