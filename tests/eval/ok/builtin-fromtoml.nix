builtins.fromTOML ''
  title = "TOML"
  int = 42
  neg = -17
  float = 3.5
  bool = true
  arr = [ 1, 2, 3 ]
  mixed = [ "a", [ 1 ] ]
  "quoted key" = "v"
  dotted.key = "d"
  literal = 'C:\path'
  multi = """
line1
line2"""

  [table]
  x = 1

  [table.sub]
  y = "nested"

  [[arr_of_tables]]
  n = 1

  [[arr_of_tables]]
  n = 2

  inline = { a = 1, b = "two" }
''
