[ (toString ~/foo) (builtins.typeOf ~/bar) ]
