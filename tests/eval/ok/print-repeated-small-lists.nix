# Cyclic and shared values as Nix 2.8 prints them: sets and lists of three or more elements
# are recognised by their contents (shared by every copy), lists of one or two elements by
# the place that holds them.
[
  (let x = [ x ]; in x)
  (let x = [ x 1 2 ]; in x)
  (let x = [ y ]; y = [ x ]; in x)
  (let x = { a = [ x ]; }; in x)
  (let l = [ 1 ]; in [ l l ])
  (let l = [ 1 ]; m = l; in [ l m ])
  (let l = [ 1 2 3 ]; m = l; in [ l m ])
  (let s = { a = 1; }; in [ s s ])
  (let l = [ 1 ]; in { a = l; b = l; })
  (let f = x: [ x ]; l = f 1; in [ l l (f 1) ])
  (let x = [ x x ]; in x)
  (let l = [ 1 ]; in builtins.map (x: l) [ 1 2 ])
  (let l = [ 1 ]; s = { inherit l; }; in [ s.l s.l l ])
]
