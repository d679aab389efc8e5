a: a ? (b)
