with builtins; [ (toPath "/a/b") (toPath "/a//b/../c/./d/") (typeOf (toPath "/x")) (toPath /x/y) ]
