x: map or
