if a then
