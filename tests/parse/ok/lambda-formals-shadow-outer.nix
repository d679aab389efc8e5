a: { a }: a
