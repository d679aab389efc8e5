"a\	b"
