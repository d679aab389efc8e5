with builtins; [ (fromJSON "1") (fromJSON "1.5") (fromJSON "-3") (fromJSON "1e3") (fromJSON "\"s\\u00e9\\n\"") (fromJSON "null") (fromJSON "true") (fromJSON "[1, [2], {}]")
  (fromJSON "{\"b\": 1, \"a\": {\"c\": null}}") (fromJSON " [ ] ") (fromJSON (readFile ../data/data.json)) (fromJSON "{\"a\": 1, \"a\": 2}") (fromJSON "12345678901234567890") (fromJSON "\"\\ud83d\\ude00\"") (fromJSON "1.0") ]
