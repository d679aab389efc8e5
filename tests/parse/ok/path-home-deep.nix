~/a/b
