# `derivation` does not instantiate until a path is needed, and keeps every attribute.
let
  d = derivation { name = "lazy"; builder = throw "not needed"; system = "x"; meta = 1; };
in [ d.name d.meta d.type d.outputName (builtins.attrNames d.drvAttrs) (builtins.tryEval d.drvPath).success ]
