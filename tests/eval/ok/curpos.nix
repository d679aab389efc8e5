[ __curPos
  { pos = __curPos; }
     __curPos ((import ../data/curpos.nix) 1) ]
