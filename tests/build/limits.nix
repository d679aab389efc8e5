let
  mk = name: script: derivation {
    inherit name;
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" script ];
  };
in
{
  hang = mk "hang" "echo start; sleep 60";
  # Waits to be killed with its client.
  orphan = mk "orphan" "echo start; sleep 97";
  noisy = mk "noisy" "while true; do echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; done";
  mismatch = derivation {
    name = "mismatch";
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" "echo wrong > $out" ];
    outputHashMode = "flat";
    outputHashAlgo = "sha256";
    outputHash = builtins.hashString "sha256" "right\n";
  };
}
