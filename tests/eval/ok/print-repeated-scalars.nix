# only attribute sets and lists are tracked for «repeated»
let s = "str"; n = 1; f = x: x; in [ s s n n f f ]
