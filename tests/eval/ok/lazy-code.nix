{ a = 1 + 1; b = throw "not forced"; c = [ (throw "x") ]; d = "lit"; e = 5; f = x: x; g = { h = 1; }; }
