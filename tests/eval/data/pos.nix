{
  first = 1;
  nested = {
    inner = "x";
  };
  f = { a, b ? 2 }: a;
}
