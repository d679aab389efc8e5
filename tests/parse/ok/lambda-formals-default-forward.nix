{ a ? b, b }: a
