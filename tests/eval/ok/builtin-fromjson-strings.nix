map builtins.fromJSON [ ''"\/\b\f\n\r\t\"\\"'' ''"\u00e9\u65e5"'' ''"plain"'' ''[ "a" , "b" ]'' ''{ "": 1 }'' ]
