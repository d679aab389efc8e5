a.b/c.d
