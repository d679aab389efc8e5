let f = x: { __toString = s: f x; }; in toString (f 1)
