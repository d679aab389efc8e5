x: a/${x}
