"multi
linestring
test\r"
