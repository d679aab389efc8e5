let __nixPath = [ { prefix = "x"; path = ../data; } ]; in [ <x/simple.nix> (import <x/simple.nix>).a ]
