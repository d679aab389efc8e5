a: a +++ a
