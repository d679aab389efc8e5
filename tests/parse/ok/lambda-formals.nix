{ a, b, c }: a
