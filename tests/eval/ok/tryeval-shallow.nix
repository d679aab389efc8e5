# tryEval only forces its argument to weak head normal form
[ (builtins.tryEval [ (throw "inside") ]).success (builtins.tryEval { a = throw "inside"; }).success ]
