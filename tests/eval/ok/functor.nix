let
  f = { __functor = self: x: self.base + x; base = 10; };
  g = { __functor = self: { a, b ? 1 }: a + b; };
  nested = { __functor = self: f; };
in [ (f 5) (g { a = 1; }) (builtins.isFunction f) (builtins.typeOf f) (map f [ 1 2 ]) (nested 1) ]
