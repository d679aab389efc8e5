let leaf = [ "leaf" ]; mid = { inherit leaf; other = leaf; }; in [ mid mid leaf ]
