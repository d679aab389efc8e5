# a comparator that is not a strict weak order: the result follows the sorting algorithm
with builtins; [
  (map (x: x.i) (sort (a: b: a.k <= b.k) (genList (i: { k = bitAnd i 1; inherit i; }) 20)))
  (sort (a: b: true) (genList (i: i) 20))
  (sort (a: b: false) (genList (i: i) 20))
]
