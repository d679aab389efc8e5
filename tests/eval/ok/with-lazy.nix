# the with expression is only evaluated when a variable is looked up through it
let x = 1; in with (throw "never"); x
