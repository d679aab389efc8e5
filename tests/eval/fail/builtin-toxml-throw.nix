builtins.toXML { a = throw "in toXML"; }
