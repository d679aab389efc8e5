[ "héllo" (builtins.stringLength "héllo") (builtins.substring 1 2 "héllo") "日本" (builtins.stringLength "日本") ]
