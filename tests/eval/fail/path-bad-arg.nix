builtins.path { path = ./.; colour = "red"; }
