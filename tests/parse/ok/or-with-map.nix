with { or = 1; }; map or [ ]
