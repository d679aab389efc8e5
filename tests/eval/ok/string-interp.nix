let n = "world"; x = { y = "deep"; }; in [ "hello ${n}" "${x.y}${x.y}" "${"nested ${"again ${n}"}"}" "a${""}b" ''multi ${n}'' ]
