[ (if true then 1 else throw "else") (if false then throw "then" else 2) ]
