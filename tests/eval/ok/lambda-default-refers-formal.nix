let f = { x ? y, y ? 5 }: x; in [ (f { }) (f { y = 1; }) ]
