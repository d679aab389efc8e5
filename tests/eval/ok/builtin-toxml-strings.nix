builtins.toXML [ "é\n\ttab" "<tag attr=\"v\">&amp;</tag>" "" (builtins.fromJSON ''"\u0001"'') ]
