[ (./. == ./.) (builtins.typeOf ./x) (toString ./x) (toString ../x) (toString ./a/../b) (./a + "/b") ]
