let const = a: b: a; in [ (const 1 (throw "unused")) (builtins.length [ (throw "a") ]) ({ a = 1; b = throw "b"; }.a) ]
