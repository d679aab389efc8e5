x: x.if
