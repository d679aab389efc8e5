let x = { y = 1; }; in "prefix ${x.y} suffix"
