(import ../data/dir).file
