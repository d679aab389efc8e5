with builtins; [ (getContext "plain") (hasContext "plain") (unsafeDiscardStringContext "plain") (unsafeDiscardOutputDependency "plain") (hasContext "") (appendContext "x" { }) ]
