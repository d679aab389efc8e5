inherit a;
