builtins.filterSource 1 ./.
