{ c, b, a }: a
