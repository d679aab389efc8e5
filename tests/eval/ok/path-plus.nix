[ (/foo + "/bar") (/foo + "bar") (/foo/bar + "/../baz") (/a + /b) (/. + "x") (/foo + "") ]
