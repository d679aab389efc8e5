# regexes work on bytes: "." matches one byte of a multi-byte UTF-8 character
with builtins; [ (match "." "é") (match ".." "é") (match "(.)(.*)" "日本") (split "本" "日本語") (match "[é]+" "é") (substring 1 1 "é" == substring 0 1 "é") ]
