# the top-level value is forced; attributes whose values are not yet forced print as <CODE>
let s = { a = 1; b = s.a + 1; }; in builtins.seq s.b s
