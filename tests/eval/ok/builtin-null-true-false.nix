with builtins; [ null true false (builtins.null == null) (builtins.true && true) ]
