with builtins; map parseDrvName [ "nix-0.12pre12876" "a-b-c-1.0" "hello" "foo-bar" "x-1" "-1.0" "name-" "a-1-b-2" "openssl-1.1.1w-dev" "emacs-29.1-pgtk" ]
