{
  services.ssh.enable = true;
  services.ssh = { port = 123; };
  services = {
    httpd.enable = true;
  };
}
