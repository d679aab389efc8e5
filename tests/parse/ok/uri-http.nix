http://example.org/foo?a=b&c=d
