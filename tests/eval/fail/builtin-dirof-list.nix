builtins.dirOf [ ]
