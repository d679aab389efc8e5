with builtins; [ langVersion nixVersion storeDir (isList nixPath) (isList __nixPath) (typeOf langVersion) (compareVersions nixVersion "2.8") ]
