with builtins; [ (baseNameOf "/a/b/c") (baseNameOf "/a/b/c/") (baseNameOf "c") (baseNameOf "") (baseNameOf "/") (baseNameOf /x/y.nix) (baseNameOf "a//") (baseNameOf "//") (typeOf (baseNameOf /x/y)) ]
