# Printed with --strict, which forces the value deeply first.
let f = x: [ (f x) ]; in f 1
