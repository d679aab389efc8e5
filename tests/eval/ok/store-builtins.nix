# toFile, path, filterSource, placeholder and the copying of paths into the store.
let
  t = builtins.toFile "t.txt" "some text";
  t2 = builtins.toFile "t2" "refers to ${t} and ${./../data/file.txt}";
  tree = ./../data/src-tree;
in {
  inherit t t2;
  ctx = builtins.getContext t2;
  copied = "${tree}";
  plain = builtins.path { path = tree; };
  named = builtins.path { path = tree; name = "renamed"; };
  filtered = builtins.path { path = tree; filter = p: type: type != "directory" && baseNameOf p != "link"; };
  flat = builtins.path { path = ./../data/file.txt; recursive = false; };
  checked = builtins.path { path = ./../data/file.txt; sha256 = "0mnb27g7yfadwm57pl87846gwk9dd1js7qjncfca0xzgg5b2jfp9"; };
  source = builtins.filterSource (p: type: type == "regular") tree;
  seen = builtins.filterSource (p: type: builtins.trace "${baseNameOf p} ${type}" true) tree;
  ph = [ (builtins.placeholder "out") (builtins.placeholder "dev") ];
  storeDir = builtins.storeDir;
  hasCtx = [ (builtins.hasContext t) (builtins.hasContext "${tree}") ];
}
