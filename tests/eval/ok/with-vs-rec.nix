[ (with { a = 1; }; rec { b = a; a = 2; }.b) (with { a = 1; }; { b = a; a = 2; }.b) (let a = 3; in with { a = 1; }; rec { b = a; }.b) ]
