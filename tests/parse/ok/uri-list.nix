[ https://svn.cs.uu.nl:12443/repos/trace/trunk ftp://ftp.gtk.org/pub/gtk/v1.2/gtk+-1.2.10.tar.gz http://losser.st-lab.cs.uu.nl/~armijn/.nix/gcc-3.3.4-static-nix.tar.gz ]
