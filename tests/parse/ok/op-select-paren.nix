a: (a).b
