let s = "日本語"; in s + 1
