builtins.concatStringsSep [ ] [ "a" ]
