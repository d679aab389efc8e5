{ fromDir = true; file = ./.; }
