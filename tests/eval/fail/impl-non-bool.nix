null -> true
