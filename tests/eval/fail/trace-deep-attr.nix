let cfg = { services.web.port = "80" + 1; }; in cfg
