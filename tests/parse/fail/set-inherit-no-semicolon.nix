x: { inherit x }
