{ zz ? 1, name, ... }@args: zz
