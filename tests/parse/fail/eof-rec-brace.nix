rec {
