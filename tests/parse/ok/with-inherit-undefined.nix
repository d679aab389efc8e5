with {}; { inherit a; }
