[ (import ../data/simple.nix) ((import ../data/double.nix) 21) (import ../data/relimport.nix).b (import ../data/dir) ((import ../data/formals.nix) { b = 2; c = 0; }) ]
