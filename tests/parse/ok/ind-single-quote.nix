''it's a ' quote''
