let __findFile = 1; __nixPath = 2; in [ <a> <b/c> ]
