with builtins; [
  (genericClosure { startSet = [ { key = "b"; } { key = "a"; } ]; operator = x: [ ]; })
  (genericClosure { startSet = [ ]; operator = x: throw "never called"; })
  (genericClosure { startSet = [ { key = [ 1 2 ]; } ]; operator = x: [ { key = [ 1 2 ]; } { key = [ 1 3 ]; } ]; })
  (map (x: x.key) (genericClosure { startSet = [ { key = 1.5; } ]; operator = x: [ { key = 1.5; } { key = 2.5; } ]; }))
]
