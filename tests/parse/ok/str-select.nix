"s".a
