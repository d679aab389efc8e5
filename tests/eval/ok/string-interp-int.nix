# interpolating a non-string is an error except for paths and things with __toString/outPath
let s = { __toString = self: "custom"; }; d = { outPath = "/some/out"; }; in [ "${s}" "${d}" "${s}${d}" ]
