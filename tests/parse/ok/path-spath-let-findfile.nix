let __findFile = a: b: b; in <a>
