with: 1
