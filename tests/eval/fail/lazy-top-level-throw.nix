# even without --strict the top-level value is forced
throw "top level"
