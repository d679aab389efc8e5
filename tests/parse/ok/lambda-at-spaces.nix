x @ { a }: a
