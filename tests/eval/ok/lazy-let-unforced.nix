let x = throw "never"; in { inherit x; y = 1; }
