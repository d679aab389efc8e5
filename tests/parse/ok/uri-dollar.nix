http://a/$b
