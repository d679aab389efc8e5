[ "a\nb" "tab\there" "q\"uote" "back\\slash" "dollar \${x}" "$" "$$" "a$b" "\r\x" ''ind
  ent''${"ed"}'' ''a''\nb'' ''$${x}'' ''''$''${y}'' ]
