{ localServer ? false
, httpServer ? false
, stdenv, fetchurl
, openssl ? null, httpd ? null, db4 ? null, expat
}:

assert expat != null;
assert localServer -> db4 != null;
assert httpServer -> httpd != null && httpd.expat == expat;

stdenv.mkDerivation {
  name = "subversion-1.1.1";
  builder = /foo/bar;
  src = fetchurl {
    url = http://subversion.tigris.org/tarballs/subversion-1.1.1.tar.bz2;
    md5 = "a180c3fe91680389c210c99def54d9e0";
  };
  inherit expat;
  openssl = if httpServer then openssl else null;
}
