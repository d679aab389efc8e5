# Fixed-output derivations: every hash encoding, flat and recursive, and their users.
let
  mk = attrs: derivation ({ name = "fixed"; builder = "/bin/sh"; system = "x86_64-linux"; } // attrs);
  h16 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
in {
  base16 = (mk { outputHash = h16; outputHashAlgo = "sha256"; }).outPath;
  nix32 = (mk { outputHash = "1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s"; outputHashAlgo = "sha256"; }).outPath;
  sri = (mk { outputHash = "sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="; }).outPath;
  prefixed = (mk { outputHash = "sha256:${h16}"; }).outPath;
  recursive = (mk { outputHash = h16; outputHashAlgo = "sha256"; outputHashMode = "recursive"; }).drvPath;
  sha1 = (mk { outputHash = "a9993e364706816aba3e25717850c26c9cd0d89d"; outputHashAlgo = "sha1"; outputHashMode = "recursive"; }).outPath;
  md5 = (mk { outputHash = "900150983cd24fb0d6963f7d28e17f72"; outputHashAlgo = "md5"; }).outPath;
  sha512 = (mk { outputHash = "sha512-3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/BqDa6PCOj/uu9RU1EI2Q86A4qmslPpUyknw=="; }).outPath;
  user = (derivation { name = "user"; builder = "/bin/sh"; system = "x86_64-linux"; src = mk { outputHash = h16; outputHashAlgo = "sha256"; }; }).drvPath;
  # Same output, different derivation text: the users' paths do not change.
  user2 = (derivation { name = "user"; builder = "/bin/sh"; system = "x86_64-linux"; src = mk { outputHash = h16; outputHashAlgo = "sha256"; extra = "x"; }; }).outPath;
  user3 = (derivation { name = "user"; builder = "/bin/sh"; system = "x86_64-linux"; src = mk { outputHash = h16; outputHashAlgo = "sha256"; }; }).outPath;
}
