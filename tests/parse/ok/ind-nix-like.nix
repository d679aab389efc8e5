''
  #!/bin/sh
  echo "hi" ''${HOME}
  if [ -z "$1" ]; then
    exit 1
  fi
''
