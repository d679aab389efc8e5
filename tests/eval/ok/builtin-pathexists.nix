with builtins; [ (pathExists ../data/file.txt) (pathExists ../data/missing) (pathExists ../data/dir) (pathExists "/") (pathExists "${toString ../data}/simple.nix") (pathExists ../data/readdir/link) ]
