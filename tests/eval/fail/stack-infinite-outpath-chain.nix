let f = x: { outPath = f x; }; in "${f 1}"
