x: x."if"."rec"
