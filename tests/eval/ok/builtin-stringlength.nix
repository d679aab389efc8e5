with builtins; [ (stringLength "") (stringLength "abc") (stringLength "a\nb") (stringLength "ü") (stringLength "${"ab"}c") ]
