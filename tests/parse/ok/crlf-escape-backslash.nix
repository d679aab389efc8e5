"a\
b"
