# A heavier NixOS configuration than bench-nixpkgs' minimal one (issue 22's "heavier NixOS
# evaluation"): an X11 window manager, web, database, monitoring, containers, SSH and a user.
# Each module chosen evaluates in the nixpkgs 24.11 workload tree (which lacks the Haskell
# package set, so desktops that need pandoc, and libvirtd, are left out).
{ ... }: {
  fileSystems."/".device = "/dev/sda1";
  boot.loader.grub.device = "/dev/sda";
  services.xserver.enable = true;
  services.xserver.windowManager.i3.enable = true;
  services.nginx.enable = true;
  services.postgresql.enable = true;
  services.openssh.enable = true;
  services.prometheus.enable = true;
  services.grafana.enable = true;
  virtualisation.docker.enable = true;
  users.users.alice = { isNormalUser = true; extraGroups = [ "wheel" ]; };
}
