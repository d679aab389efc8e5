let a = b; in <a>
