a'-b: a'-b
