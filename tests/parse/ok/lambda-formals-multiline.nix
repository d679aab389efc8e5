{ stdenv, fetchurl /* x */ }:

stdenv.mkDerivation {
  name = "x";
}
