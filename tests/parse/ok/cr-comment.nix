# a comment1
