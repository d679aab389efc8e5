builtins.filterSource (p: t: throw "no ${baseNameOf p}") ./../data/src-tree
