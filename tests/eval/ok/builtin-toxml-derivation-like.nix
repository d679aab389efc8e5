builtins.toXML [ { type = "derivation"; name = "n"; outPath = "/out"; drvPath = "/drv"; other = 1; } { type = "derivation"; } ]
