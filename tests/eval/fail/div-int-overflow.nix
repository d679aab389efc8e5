# The one integer division that overflows.
(-9223372036854775807 - 1) / (-1)
