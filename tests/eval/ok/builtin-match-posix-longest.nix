# POSIX leftmost-longest: alternation picks the longest overall match, not the first alternative
with builtins; [ (match "(a|ab)(c|bcd)(d*)" "abcd") (match "(a*)(a*)" "aaa") (match "(a|aa)*" "aaaa") (match "(a|aa)(a*)" "aaa")
  (match "(ab|a)(bc|c)?" "abc") (match "(.*)(.*)" "xy") (match "(a*)*" "aa") (match "(a?)((ab)?)(b?)" "ab") ]
