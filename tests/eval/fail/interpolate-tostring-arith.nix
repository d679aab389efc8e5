let f = x: "n${toString (x + 1)}"; in f "s"
