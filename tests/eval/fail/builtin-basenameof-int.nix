builtins.baseNameOf 5
