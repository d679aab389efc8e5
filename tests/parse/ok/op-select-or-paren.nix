x: (x.a or { }).b or 1
