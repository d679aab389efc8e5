# An error while forcing one item of genList.
builtins.elemAt (builtins.genList (i: if i == 2 then throw "item ${toString i}" else i) 4) 2
