# The builder of examples/hello.nix: one file per output.
echo "$message" > "$out"
echo "A greeting." > "$doc"
