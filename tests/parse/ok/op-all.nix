a: b: c: !a -> b || c && a == b && a != c && a < b && (a // b ++ c + a - b * c / a) ? d.e
