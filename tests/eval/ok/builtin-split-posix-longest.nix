# leftmost-longest: the first alternative "a" would only match one character
with builtins; [ (split "(a|ab)" "xabx") (split "a|ab|abc" "zabcz") (split "(x|xy)(z?)" "xyz") (split "(b|bb)+" "abbba") ]
