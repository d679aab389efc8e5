x: /a/${x}.nix
