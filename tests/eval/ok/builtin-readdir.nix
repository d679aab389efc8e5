with builtins; [ (readDir ../data/readdir) (attrNames (readDir ../data/dir)) ]
