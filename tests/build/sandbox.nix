# Sandbox isolation checks; `port` is a TCP server on the host's loopback, `project` the
# directory the tests run from.
{ port, project, hash }:
let
  url = "http://127.0.0.1:${port}/file";
in
{
  # Succeeds only when the builder sees none of the host.
  isolated = derivation {
    name = "isolated";
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" ''
      set -e
      for p in /etc/shadow /root ${project} /home /usr; do
        if [ -e "$p" ]; then echo "visible: $p"; exit 1; fi
      done
      if wget -q -T 2 -O - ${url}; then echo "network reachable"; exit 1; fi
      n=$(ls /proc | grep -c '^[0-9]')
      echo "processes: $n"
      [ "$n" -le 4 ]
      echo "uid=$(id -u 2>/dev/null || echo ?) host=$(hostname)"
      echo ok > $out
    '' ];
  };
  # A fixed-output derivation keeps the host's network.
  fetched = derivation {
    name = "fetched";
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" "wget -q -O $out ${url}" ];
    outputHashMode = "flat";
    outputHashAlgo = "sha256";
    outputHash = hash;
  };
  builtin = derivation {
    name = "builtin-fetched";
    system = "builtin";
    builder = "builtin:fetchurl";
    inherit url;
    executable = "";
    unpack = "";
    outputHashMode = "flat";
    outputHashAlgo = "sha256";
    outputHash = hash;
  };
}
