with builtins; [ (builtins ? builtins) (typeOf builtins.builtins) (builtins.builtins.true) (builtins.builtins.builtins.null) (builtins.false) (length (attrNames builtins)) ]
