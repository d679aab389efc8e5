{ a', a-b, _c }: a'
