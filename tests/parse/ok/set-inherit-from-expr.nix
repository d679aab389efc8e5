{ inherit ({ a = 1; }) a; }
