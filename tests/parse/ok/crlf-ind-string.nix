''
  a
    b
  c
''
