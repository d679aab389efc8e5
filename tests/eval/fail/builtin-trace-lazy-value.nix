builtins.trace { a = 1 + 1; b = throw "unforced"; } (throw "end")
