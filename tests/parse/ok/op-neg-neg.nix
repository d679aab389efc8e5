a: - - a
