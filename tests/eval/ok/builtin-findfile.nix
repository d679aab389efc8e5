let sp = [ { prefix = "d"; path = ../data; } { prefix = ""; path = ../data/dir; } { prefix = "nope"; path = ../data/missing; } ]; in
with builtins; [ (findFile sp "d/file.txt") (findFile sp "d") (findFile sp "default.nix") (typeOf (findFile sp "d")) (findFile [ { path = ../data; } ] "simple.nix") ]
