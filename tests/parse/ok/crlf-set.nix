rec {
  /* a
  comment */
  x = y;
  # c
  y = 123;
}
