abort { __toString = _: "from __toString"; }
