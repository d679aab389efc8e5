x: x "a" "b"
