1 || true
