builtins.fromTOML ''
  "a.b" = 1
  a.b.c = 2
  [x.y.z]
  w = 3
  [x]
  v = 4
  [[list.items]]
  id = 1
  [[list.items]]
  id = 2
  [list.items.sub]
  deep = true
  [nested]
  inline = { p = { q = [ { r = 1 }, { r = 2 } ] } }
  esc = "\u00e9\t\"q\""
  lit = 'no \escapes'
''
