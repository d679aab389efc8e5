[ ''
    line1
      indented
    line3
  '' ''
  one
'' ''  leading'' ''
	tab stays
  '' ''

    blank first
  '' ]
