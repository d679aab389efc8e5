# 1e6 is not a float literal: it lexes as 1 followed by the identifier e6
[ 1e6 ]
