let
  mk = name: script: derivation {
    inherit name;
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" script ];
  };
in
{
  # Writes the current time: a rebuild differs.
  clock = mk "clock" "date +%s > $out; cat /proc/uptime >> $out";
  steady = mk "steady" "echo steady > $out";
}
