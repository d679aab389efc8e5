# A string path that continues past a regular file does not exist in Nix 2.8 (the file is no
# directory), while a path value is canonicalised when it is made.
let f = ../data/file.txt; in
[
  (builtins.pathExists (toString f))
  (builtins.pathExists (toString f + "/"))
  (builtins.pathExists (toString f + "/."))
  (builtins.pathExists (toString f + "/./"))
  (builtins.pathExists (toString f + "/.."))
  (builtins.pathExists (f + "/"))
  (builtins.pathExists (toString ../data + "/"))
  (builtins.pathExists (toString ../data + "/./file.txt"))
  (builtins.pathExists (toString ../data + "//file.txt"))
]
