a: a.
