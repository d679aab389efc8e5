~a
