# out-of-range integers are clamped, not rejected
builtins.fromTOML "a = 9223372036854775808"
