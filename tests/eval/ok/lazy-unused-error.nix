let bad = 1 + "a"; in { ok = "fine"; inherit bad; }
