builtins.toXML { int = 1; str = "s<&>\"'"; bool = true; null = null; float = 1.5; list = [ 1 "a" ]; nested = { x = { }; }; path = /some/path; fn = { a, b ? 1, ... }: a; fn2 = x: x; }
