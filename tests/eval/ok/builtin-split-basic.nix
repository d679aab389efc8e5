with builtins; [ (split "," "a,b,c") (split "(,)" "a,b") (split "x" "abc") (split "," "") (split "," ",") (split "([ab])" "1a2b3") (split "(a)|(b)" "xaybz") (split "[[:space:]]+" " lead  trail ") ]
