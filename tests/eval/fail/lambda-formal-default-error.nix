let f = { a ? 1 + "x" }: a; in f { }
