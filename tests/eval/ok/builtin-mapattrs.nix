with builtins; [ (mapAttrs (n: v: "${n}=${toString v}") { a = 1; b = 2; }) (mapAttrs (n: v: v) { }) ((mapAttrs (n: v: throw "lazy") { a = 1; }) ? a) ]
