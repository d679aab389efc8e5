{
  value = 1;
  bad = throw "thrown from data/throws.nix";
  typeError = 1 + "x";
}
