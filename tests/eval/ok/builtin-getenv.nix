with builtins; [ (getEnv "NIX_REMOTE") (getEnv "HOME") (getEnv "FERRIX_SURELY_UNSET_VARIABLE") (getEnv "") ]
