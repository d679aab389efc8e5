or
