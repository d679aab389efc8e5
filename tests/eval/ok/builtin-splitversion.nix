with builtins; map splitVersion [ "1.2.3" "2.3pre1" "1.0-rc2" "" "a.b-c_d" "1..2" "10abc2" "1.2." ".1" ]
