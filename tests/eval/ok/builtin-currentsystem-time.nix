with builtins; [ (isString currentSystem) (currentSystem != "") (isInt currentTime) (currentTime > 1600000000) (currentTime == currentTime) ]
