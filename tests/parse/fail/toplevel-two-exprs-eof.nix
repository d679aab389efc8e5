a: a }
