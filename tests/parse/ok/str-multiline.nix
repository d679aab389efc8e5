"a
  b
	c
"
