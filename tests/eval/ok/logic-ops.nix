[ (true && false) (true || false) (!true) (false -> false) (true -> false) (false -> throw "lazy")
  (false && throw "lazy") (true || throw "lazy") (!false && !false) ]
