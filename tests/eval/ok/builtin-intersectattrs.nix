with builtins; [ (intersectAttrs { a = 0; b = 0; } { a = 1; c = 3; b = 2; }) (intersectAttrs { } { a = 1; }) (intersectAttrs { a = 1; } { }) ]
