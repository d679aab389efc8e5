# comment
1 # trailing
# end
