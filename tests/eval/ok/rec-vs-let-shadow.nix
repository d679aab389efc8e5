let a = "outer"; in {
  nonRec = { a = "inner"; b = a; }.b;
  isRec = rec { a = "inner"; b = a; }.b;
}
