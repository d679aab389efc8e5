throw { __toString = _: "from toString"; }
