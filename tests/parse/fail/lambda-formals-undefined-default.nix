{ a ? x }: a
