''
  foo
  ${bar}
''
