let f = { a ? throw "default not used" }: 1; in [ (f { }) (f { a = 2; }) ]
