# mapAttrs calls `f name value` lazily; an error inside shows Nix's trace.
let s = builtins.mapAttrs (name: value: if name == "b" then throw "bad ${name}" else value) { a = 1; b = 2; };
in s.a + s.b
