# After a string, a path is copied to the store: a missing one is an error.
"a" + /no/such/path
