builtins.findFile [ { prefix = "d"; path = ../data; } ] "d/nonexistent.txt"
