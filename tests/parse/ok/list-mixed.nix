[ "a" ''b'' ./c <d> http://e 1 2.5 { } (x: x) null ]
