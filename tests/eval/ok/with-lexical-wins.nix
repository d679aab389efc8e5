let a = "lexical"; in with { a = "with"; b = "with-b"; }; [ a b ]
