x: "a${x}b
