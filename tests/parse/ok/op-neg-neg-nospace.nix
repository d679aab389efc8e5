a: --a
