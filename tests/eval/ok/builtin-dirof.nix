with builtins; [ (dirOf "/a/b/c") (dirOf "/a/b/c/") (dirOf "c") (dirOf "") (dirOf "/") (dirOf /x/y.nix) (dirOf "/a") (dirOf "a/b") (typeOf (dirOf /x/y)) (dirOf "//a") (dirOf "a//b") ]
