with { __findFile = 1; }; <a>
