let v = throw "let-bound"; w = v; in { result = w; }
