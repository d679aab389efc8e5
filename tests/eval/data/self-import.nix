let self = import ./self-import.nix; in { x = 1; y = self.x + 1; }
