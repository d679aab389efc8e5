with builtins; [ (attrNames { z = 1; a = 2; m = 3; }) (attrValues { z = 1; a = 2; m = 3; }) (attrNames { }) (attrValues { }) (attrNames { B = 1; a = 1; "_" = 1; "1" = 1; }) ]
