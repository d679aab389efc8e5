rec { x = { }; inherit (x) y; }
