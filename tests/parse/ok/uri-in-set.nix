{ url = http://a.b/c; }
