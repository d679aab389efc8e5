{ a = 1; b = { c = throw "lazy trace"; }; }
