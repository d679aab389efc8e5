http://a/${x}
