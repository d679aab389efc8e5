//! `nix-store --serve` and `nix-copy-closure` over real OpenSSH on loopback.
//!
//! Each test starts Debian's `/usr/sbin/sshd` on 127.0.0.1 on a free port, with a
//! temporary host key, `sshd_config` and `authorized_keys`; the client keys' forced commands
//! run the remote side's `nix-store --serve` (Ferrix's, through a `nix-store` link to the
//! binary, or Nix 2.8's) on a temporary chroot store. Clients get a temporary `HOME` and
//! known-hosts file and reach the server through `NIX_SSHOPTS`; nothing reads or writes
//! `~/.ssh` or the machine's `/nix`.
//!
//! The tests skip, with a note, when not run as root or when sshd, ssh or Nix 2.8 is
//! missing.

use std::collections::BTreeSet;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ferrix");

/// Variables that would point a command at another store or configuration.
const STORE_VARS: &[&str] = &[
    "NIX_REMOTE",
    "NIX_STORE_DIR",
    "NIX_STATE_DIR",
    "NIX_LOG_DIR",
    "NIX_CONF_DIR",
    "NIX_CONFIG",
    "NIX_PATH",
    "NIX_USER_CONF_FILES",
    "NIX_SSHOPTS",
];

const CONF: &str =
    "build-users-group =\nsandbox = true\nsandbox-paths = /bin/sh=/bin/busybox\nsubstituters =\n";

fn have_tools() -> bool {
    use std::os::unix::fs::MetadataExt;
    if std::fs::metadata("/proc/self").map(|m| m.uid()).ok() != Some(0) {
        eprintln!("note: not running as root; skipping the sshd tests");
        return false;
    }
    for t in ["/usr/sbin/sshd", "/usr/bin/ssh", "/usr/bin/ssh-keygen"] {
        if !Path::new(t).exists() {
            eprintln!("note: {t} is not installed; skipping the sshd tests");
            return false;
        }
    }
    let nix = Command::new("nix-store")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !nix {
        eprintln!("note: nix-store (Nix 2.8) is not installed; skipping the sshd tests");
        return false;
    }
    true
}

/// Which `nix-store --serve` a key's forced command runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Remote {
    Ferrix,
    Nix,
}

/// An sshd on loopback and the temporary directory of everything around it:
/// `remote/` (the served chroot store), `local/` (a client's chroot store), `bin/` (the
/// `nix-store` link to Ferrix), `etc/nix.conf`, `home/`, keys and configuration. The key
/// `key_rw` runs `--serve --write`, `key_ro` `--serve` alone. Killed when dropped.
struct Sshd {
    child: Child,
    port: u16,
    dir: PathBuf,
    _tmp: tempfile::TempDir,
}

fn run_ok(c: &mut Command) -> Output {
    let o = c.output().expect("run a command");
    assert!(
        o.status.success(),
        "{c:?} failed ({}):\n{}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn keygen(path: &Path) -> String {
    run_ok(
        Command::new("/usr/bin/ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(path),
    );
    std::fs::read_to_string(path.with_extension("pub"))
        .unwrap()
        .trim()
        .to_string()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Sshd {
    fn start(remote: Remote) -> Sshd {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().canonicalize().unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        for d in ["remote", "local", "bin", "etc", "home", "rhome"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        std::fs::write(dir.join("etc/nix.conf"), CONF).unwrap();
        std::os::unix::fs::symlink(BIN, dir.join("bin/nix-store")).unwrap();
        std::os::unix::fs::symlink(BIN, dir.join("bin/nix-copy-closure")).unwrap();
        // sshd wants its privilege separation directory, as Debian's service makes it.
        std::fs::create_dir_all("/run/sshd").unwrap();
        keygen(&dir.join("host_key"));
        let rw = keygen(&dir.join("key_rw"));
        let ro = keygen(&dir.join("key_ro"));
        let nix_store = match remote {
            Remote::Ferrix => dir.join("bin/nix-store"),
            Remote::Nix => PathBuf::from("/usr/bin/nix-store"),
        };
        let cmd = |write: bool| {
            format!(
                "command=\"env -i PATH=/usr/bin:/bin HOME={home} NIX_CONF_DIR={etc} {bin} --store {store} --serve{w}\",no-pty,no-port-forwarding,no-agent-forwarding,no-X11-forwarding",
                home = dir.join("rhome").display(),
                etc = dir.join("etc").display(),
                bin = nix_store.display(),
                store = dir.join("remote").display(),
                w = if write { " --write" } else { "" },
            )
        };
        std::fs::write(
            dir.join("authorized_keys"),
            format!("{} {rw}\n{} {ro}\n", cmd(true), cmd(false)),
        )
        .unwrap();
        let port = free_port();
        std::fs::write(
            dir.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nAuthorizedKeysFile {ak}\nPidFile {pid}\nStrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nPermitRootLogin prohibit-password\nPermitUserEnvironment no\nLogLevel ERROR\n",
                hk = dir.join("host_key").display(),
                ak = dir.join("authorized_keys").display(),
                pid = dir.join("sshd.pid").display(),
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("sshd.log")).unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(dir.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start sshd");
        let mut s = Sshd {
            child,
            port,
            dir,
            _tmp: tmp,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(st) = s.child.try_wait().unwrap() {
                panic!("sshd exited ({st}): {}", s.log());
            }
            assert!(Instant::now() < deadline, "sshd did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }

    /// `NIX_SSHOPTS` for the key `key`: the port, the key alone, a temporary known-hosts
    /// file, and no configuration file.
    fn sshopts(&self, key: &str) -> String {
        format!(
            "-p {} -F /dev/null -i {} -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile={} -o LogLevel=ERROR",
            self.port,
            self.dir.join(key).display(),
            self.dir.join("known_hosts").display()
        )
    }

    fn host(&self) -> &'static str {
        "root@127.0.0.1"
    }

    /// A command with the clients' environment: temporary `HOME`, `NIX_CONF_DIR`, the
    /// local chroot store `store` as `NIX_REMOTE`, and `NIX_SSHOPTS` for `key`.
    fn client(&self, program: &str, store: &Path, key: &str) -> Command {
        let mut c = Command::new(program);
        for v in STORE_VARS {
            c.env_remove(v);
        }
        c.env("HOME", self.dir.join("home"))
            .env("NIX_CONF_DIR", self.dir.join("etc"))
            .env("NIX_USER_CONF_FILES", "")
            .env("NIX_REMOTE", store)
            .env("NIX_SSHOPTS", self.sshopts(key))
            .stdin(Stdio::null());
        c
    }

    fn remote(&self) -> PathBuf {
        self.dir.join("remote")
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Nix 2.8's `nix-store` on the chroot store `store`.
fn nix_store(s: &Sshd, store: &Path) -> Command {
    let mut c = s.client("nix-store", store, "key_rw");
    c.arg("--store").arg(store);
    c
}

/// Makes a closure in `store` with Nix 2.8: a derivation whose inputs are a directory
/// (with an executable file and a symlink) and text files that refer to each other.
/// Returns the derivation's path.
fn make_closure(s: &Sshd, store: &Path) -> String {
    let src = s.dir.join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("data"), "some data\n").unwrap();
    std::fs::write(src.join("sub/run"), "#!/bin/sh\necho run\n").unwrap();
    std::fs::set_permissions(src.join("sub/run"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let _ = std::os::unix::fs::symlink("data", src.join("link"));
    let expr = format!(
        r#"let a = builtins.toFile "a" "hello";
               b = builtins.toFile "b" "see ${{a}}";
               c = builtins.toFile "c" "${{a}} ${{b}}";
           in derivation {{ name = "d"; system = "x86_64-linux"; builder = "/bin/sh";
                           args = ["-c" "echo ${{c}} > $out"]; src = {}; }}"#,
        src.display()
    );
    let o = run_ok(
        s.client("nix-instantiate", store, "key_rw")
            .arg("--store")
            .arg(store)
            .args(["--expr", &expr]),
    );
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

fn closure(s: &Sshd, store: &Path, p: &str) -> BTreeSet<String> {
    let o = run_ok(nix_store(s, store).args(["-qR", p]));
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn verify(s: &Sshd, store: &Path) {
    let o = run_ok(nix_store(s, store).args(["--verify", "--check-contents"]));
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("error"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Which `nix-copy-closure` runs on the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Client {
    Ferrix,
    Nix,
}

/// `client`'s `nix-copy-closure --to` a `remote` serve and `--from` it back into a fresh
/// store: the closure arrives whole, Nix 2.8 verifies its contents on both ends, the bytes
/// equal the original's, and a second copy sends nothing.
fn copy_both_ways(remote: Remote, client: Client) {
    if !have_tools() {
        return;
    }
    let s = Sshd::start(remote);
    let program = match client {
        Client::Ferrix => s.dir.join("bin/nix-copy-closure"),
        Client::Nix => PathBuf::from("nix-copy-closure"),
    };
    let copy = |store: &Path, args: &[&str]| {
        run_ok(
            s.client(program.to_str().unwrap(), store, "key_rw")
                .args(args),
        )
    };
    let local = s.dir.join("local");
    let drv = make_closure(&s, &local);
    let want = closure(&s, &local, &drv);
    assert_eq!(want.len(), 5, "{want:?}");

    // --to: every path arrives, intact, with its references.
    let o = copy(&local, &["--to", s.host(), &drv]);
    // Both clients say it as Nix 2.8's does.
    assert!(
        text(&o).contains("copying 5 paths...\n")
            && text(&o).contains(&format!(
                "copying path '{drv}' to 'ssh://{}'...\n",
                s.host()
            )),
        "the first copy sends paths: {}",
        text(&o)
    );
    assert_eq!(closure(&s, &s.remote(), &drv), want);
    verify(&s, &s.remote());

    // A second copy sends nothing.
    let o = copy(&local, &["--to", s.host(), &drv]);
    assert!(
        !text(&o).contains("copying path"),
        "the second copy sends nothing: {}",
        text(&o)
    );

    // --from into a fresh store.
    let back = s.dir.join("back");
    std::fs::create_dir_all(&back).unwrap();
    let o = copy(&back, &["--gzip", "--from", s.host(), &drv]);
    assert!(text(&o).contains("copying path"), "{}", text(&o));
    assert_eq!(closure(&s, &back, &drv), want);
    verify(&s, &back);
    let o = copy(&back, &["--from", s.host(), &drv]);
    assert!(!text(&o).contains("copying path"), "{}", text(&o));

    // The bytes are the same as the original's (NAR hashes of the trees on disk).
    for p in &want {
        let hash = |store: &Path| {
            let real = store.join(p.trim_start_matches('/'));
            run_ok(
                Command::new("nix-hash")
                    .args(["--type", "sha256"])
                    .arg(real),
            )
            .stdout
        };
        assert_eq!(hash(&local), hash(&back), "{p}");
        assert_eq!(hash(&local), hash(&s.remote()), "{p}");
    }
}

#[test]
fn nix_copy_closure_to_and_from_ferrix_serve() {
    copy_both_ways(Remote::Ferrix, Client::Nix);
}

#[test]
fn ferrix_copy_closure_to_and_from_nix_serve() {
    copy_both_ways(Remote::Nix, Client::Ferrix);
}

#[test]
fn ferrix_copy_closure_to_and_from_ferrix_serve() {
    copy_both_ways(Remote::Ferrix, Client::Ferrix);
}

#[test]
fn read_only_key_queries_but_does_not_write() {
    if !have_tools() {
        return;
    }
    let s = Sshd::start(Remote::Ferrix);
    let local = s.dir.join("local");
    let drv = make_closure(&s, &local);
    // Fill the remote through the writing key first.
    run_ok(
        s.client("nix-copy-closure", &local, "key_rw")
            .args(["--to", s.host(), &drv]),
    );
    // The read-only key can copy from the remote...
    let back = s.dir.join("back");
    std::fs::create_dir_all(&back).unwrap();
    run_ok(
        s.client("nix-copy-closure", &back, "key_ro")
            .args(["--from", s.host(), &drv]),
    );
    assert_eq!(closure(&s, &back, &drv), closure(&s, &local, &drv));
    // ...but not to it.
    let other = s.dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(s.dir.join("extra"), "extra\n").unwrap();
    let extra = s.dir.join("extra");
    let p = String::from_utf8(
        run_ok(
            s.client("nix-store", &other, "key_ro")
                .arg("--store")
                .arg(&other)
                .arg("--add")
                .arg(&extra),
        )
        .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    let o = s
        .client("nix-copy-closure", &other, "key_ro")
        .args(["--to", s.host(), &p])
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("importing paths is not allowed"),
        "{}",
        text(&o)
    );
    // Ferrix's client, which streams paths without waiting for each answer, stops too.
    let t = Instant::now();
    let o = s
        .client(
            s.dir.join("bin/nix-copy-closure").to_str().unwrap(),
            &other,
            "key_ro",
        )
        .args(["--to", s.host(), &p])
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("importing paths is not allowed"),
        "{}",
        text(&o)
    );
    assert!(t.elapsed() < Duration::from_secs(30));
    let o = nix_store(&s, &s.remote())
        .args(["--check-validity", &p])
        .output()
        .unwrap();
    assert!(!o.status.success(), "the path did not arrive");
}

// ---------------------------------------------------------------------------------------
// Builds through the serve protocol

use ferrix_store::path::{StoreDir, StorePath};
use ferrix_store::store::{BuildMode, BuildStatus, Store};
use ferrix_wire::serve::ServeBuildSettings;
use ferrix_wire::ssh::{SshOptions, SshStore};

impl Sshd {
    /// Ferrix's `ssh://` store on the writing key, with `settings` for its builds.
    fn ssh_store(&self, settings: ServeBuildSettings) -> SshStore {
        let opts = SshOptions {
            build_settings: settings,
            ssh_args: self
                .sshopts("key_rw")
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            ..Default::default()
        };
        SshStore::connect(StoreDir::default(), self.host(), opts).expect("connect")
    }
}

/// Instantiates (with Nix 2.8, in the local store) a derivation whose builder runs
/// `script` with busybox's `sh`, and whose one input is a text file with references.
/// Returns the derivation's path and the input's.
fn make_build(s: &Sshd, script: &str) -> (String, String) {
    make_named_build(s, "built", script)
}

/// [`make_build`] with the derivation named `name`.
fn make_named_build(s: &Sshd, name: &str, script: &str) -> (String, String) {
    let local = s.dir.join("local");
    let expr = format!(
        r#"let a = builtins.toFile "a" "hello";
               c = builtins.toFile "c" "see ${{a}}";
           in derivation {{ name = "{name}"; system = builtins.currentSystem; builder = "/bin/sh";
                           args = ["-c" ''{script}'']; input = c; }}"#
    );
    let drv = String::from_utf8(
        run_ok(
            s.client("nix-instantiate", &local, "key_rw")
                .arg("--store")
                .arg(&local)
                .args(["--expr", &expr]),
        )
        .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    let refs =
        String::from_utf8(run_ok(nix_store(s, &local).args(["-q", "--references", &drv])).stdout)
            .unwrap();
    let input = refs
        .lines()
        .find(|l| l.ends_with("-c"))
        .expect("the input")
        .to_string();
    (drv, input)
}

/// Reads the derivation `drv` from the local chroot store.
fn read_drv(s: &Sshd, drv: &str) -> (StorePath, ferrix_store::derivation::Derivation) {
    let text = std::fs::read(s.dir.join("local").join(drv.trim_start_matches('/'))).unwrap();
    (
        StoreDir::default().parse(drv).unwrap(),
        ferrix_store::derivation::Derivation::parse(&text).unwrap(),
    )
}

/// `BuildDerivation` builds the derivation as sent, with only its input's closure on the
/// remote (not the `.drv`), and the output comes back through `--from`; a timeout the
/// client sends ends a build that runs too long, as `TimedOut`, and a log limit one that
/// writes too much.
fn build_derivation_in_memory(remote: Remote) {
    if !have_tools() || !Path::new("/bin/busybox").exists() {
        return;
    }
    let s = Sshd::start(remote);
    let local = s.dir.join("local");
    let (drv, input) = make_build(&s, "read x < $input; echo \"built $x\" > $out");
    let copy = s.dir.join("bin/nix-copy-closure");
    run_ok(
        s.client(copy.to_str().unwrap(), &local, "key_rw")
            .args(["--to", s.host(), &input]),
    );
    let (drv_path, d) = read_drv(&s, &drv);
    let out = String::from_utf8_lossy(&d.outputs[&b"out"[..]].path).into_owned();
    let store = s.ssh_store(ServeBuildSettings::default());
    let r = store
        .build_derivation(&drv_path, &d, BuildMode::Normal)
        .unwrap();
    assert_eq!(r.status, BuildStatus::Built, "{}", r.error_msg);
    assert!(store
        .is_valid(&StoreDir::default().parse(&out).unwrap())
        .unwrap());
    assert!(
        !store.is_valid(&drv_path).unwrap(),
        "the .drv was never sent"
    );
    let content = std::fs::read_to_string(s.remote().join(out.trim_start_matches('/'))).unwrap();
    let a = closure(&s, &local, &input)
        .into_iter()
        .find(|p| p.ends_with("-a"))
        .unwrap();
    assert_eq!(content, format!("built see {a}\n"));
    verify(&s, &s.remote());

    // The client's timeout is applied.
    let (drv, input) = make_build(&s, "sleep 100; echo > $out");
    run_ok(
        s.client(copy.to_str().unwrap(), &local, "key_rw")
            .args(["--to", s.host(), &input]),
    );
    let (drv_path, d) = read_drv(&s, &drv);
    let store = s.ssh_store(ServeBuildSettings {
        build_timeout: 2,
        ..Default::default()
    });
    let t = Instant::now();
    let r = store
        .build_derivation(&drv_path, &d, BuildMode::Normal)
        .unwrap();
    assert_eq!(r.status, BuildStatus::TimedOut, "{}", r.error_msg);
    assert!(t.elapsed() < Duration::from_secs(60));

    // And its log limit.
    let (drv, input) = make_build(
        &s,
        "i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done; echo > $out",
    );
    run_ok(
        s.client(copy.to_str().unwrap(), &local, "key_rw")
            .args(["--to", s.host(), &input]),
    );
    let (drv_path, d) = read_drv(&s, &drv);
    let store = s.ssh_store(ServeBuildSettings {
        max_log_size: 1000,
        ..Default::default()
    });
    let r = store
        .build_derivation(&drv_path, &d, BuildMode::Normal)
        .unwrap();
    assert_eq!(r.status, BuildStatus::LogLimitExceeded, "{}", r.error_msg);

    // Its limit of silence.
    let (drv, input) = make_build(&s, "echo start; sleep 100; echo > $out");
    run_ok(
        s.client(copy.to_str().unwrap(), &local, "key_rw")
            .args(["--to", s.host(), &input]),
    );
    let (drv_path, d) = read_drv(&s, &drv);
    let store = s.ssh_store(ServeBuildSettings {
        max_silent_time: 2,
        ..Default::default()
    });
    let t = Instant::now();
    let r = store
        .build_derivation(&drv_path, &d, BuildMode::Normal)
        .unwrap();
    assert_eq!(r.status, BuildStatus::TimedOut, "{}", r.error_msg);
    assert!(t.elapsed() < Duration::from_secs(60));

    // keep-failed keeps the failed build's directory on the remote (this machine, whose
    // temporary directory the forced command leaves at /tmp).
    let name = format!("kept-{}-{}", std::process::id(), remote as u32);
    let (drv, input) = make_named_build(&s, &name, "echo kept > marker; exit 1");
    run_ok(
        s.client(copy.to_str().unwrap(), &local, "key_rw")
            .args(["--to", s.host(), &input]),
    );
    let (drv_path, d) = read_drv(&s, &drv);
    let store = s.ssh_store(ServeBuildSettings {
        keep_failed: true,
        ..Default::default()
    });
    let r = store
        .build_derivation(&drv_path, &d, BuildMode::Normal)
        .unwrap();
    assert!(!r.status.success());
    let kept: Vec<PathBuf> = std::fs::read_dir("/tmp")
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains(&format!("-{name}.drv-")))
        .collect();
    for k in &kept {
        let _ = Command::new("chmod").arg("-R").arg("u+w").arg(k).status();
        let marker = std::fs::read_to_string(k.join("marker"));
        let _ = std::fs::remove_dir_all(k);
        assert_eq!(marker.unwrap(), "kept\n");
    }
    assert_eq!(kept.len(), 1, "one kept build directory");

    // Repeated builds that differ, with determinism enforced. (Nix 2.8's chroot stores
    // fail to compare rounds: "renaming … to ….check".)
    if remote == Remote::Nix {
        return;
    }
    let (drv, input) = make_build(&s, "echo $RANDOM$RANDOM$RANDOM > $out");
    run_ok(
        s.client(copy.to_str().unwrap(), &local, "key_rw")
            .args(["--to", s.host(), &input]),
    );
    let (drv_path, d) = read_drv(&s, &drv);
    let store = s.ssh_store(ServeBuildSettings {
        build_repeat: 1,
        enforce_determinism: true,
        ..Default::default()
    });
    let r = store
        .build_derivation(&drv_path, &d, BuildMode::Normal)
        .unwrap();
    assert_eq!(r.status, BuildStatus::NotDeterministic, "{}", r.error_msg);
    assert!(r.is_non_deterministic);
}

#[test]
fn build_derivation_on_ferrix_serve() {
    build_derivation_in_memory(Remote::Ferrix);
}

#[test]
fn build_derivation_on_nix_serve() {
    build_derivation_in_memory(Remote::Nix);
}

/// The pids of processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(c) = std::fs::read(e.path().join("cmdline")) {
            let c = String::from_utf8_lossy(&c).replace('\0', " ");
            if c.contains(marker) {
                out.push(pid);
            }
        }
    }
    out
}

/// A client that hangs up in the middle of a `BuildDerivation` takes the build with it:
/// the builder is killed and the output never becomes valid.
fn hang_up_stops_the_build(remote: Remote) {
    if !have_tools() || !Path::new("/bin/busybox").exists() {
        return;
    }
    let s = Sshd::start(remote);
    let local = s.dir.join("local");
    let marker = format!(
        "sleep {}",
        40000 + std::process::id() % 20000 + remote as u32
    );
    let (drv, input) = make_build(&s, &format!("{marker}; echo > $out"));
    let copy = s.dir.join("bin/nix-copy-closure");
    run_ok(
        s.client(copy.to_str().unwrap(), &local, "key_rw")
            .args(["--to", s.host(), &input]),
    );
    let (drv_path, d) = read_drv(&s, &drv);
    let out = String::from_utf8_lossy(&d.outputs[&b"out"[..]].path).into_owned();

    let mut ssh = Command::new("/usr/bin/ssh");
    ssh.arg(s.host())
        .args(s.sshopts("key_rw").split_whitespace())
        .arg("nix-store --serve --write")
        .env("HOME", s.dir.join("home"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = ssh.spawn().unwrap();
    let mut w = child.stdin.take().unwrap();
    let mut r = child.stdout.take().unwrap();
    let ver = ferrix_wire::serve::client_handshake(&mut r, &mut w).unwrap();
    let dir = StoreDir::default();
    ferrix_wire::serve::ServeRequest::BuildDerivation {
        drv_path,
        drv: ferrix_wire::BasicDerivation::from_derivation(&d, &dir).unwrap(),
        settings: ServeBuildSettings::default(),
    }
    .write(&mut w, ver, &dir)
    .unwrap();
    use std::io::Write as _;
    w.flush().unwrap();

    let deadline = Instant::now() + Duration::from_secs(60);
    while processes_with(&marker).is_empty() {
        assert!(Instant::now() < deadline, "the build did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !processes_with(&marker).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the build outlived its client: {:?}",
            processes_with(&marker)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = nix_store(&s, &s.remote())
        .args(["--check-validity", &out])
        .output()
        .unwrap();
    assert!(!o.status.success(), "the output did not become valid");
}

#[test]
fn hang_up_stops_the_build_on_ferrix_serve() {
    hang_up_stops_the_build(Remote::Ferrix);
}

#[test]
fn hang_up_stops_the_build_on_nix_serve() {
    hang_up_stops_the_build(Remote::Nix);
}

/// Paths a writing client asks about stay alive on the remote while its session lasts:
/// Nix 2.8's collector, run on the remote meanwhile, keeps them, and removes them once
/// the session has ended.
#[test]
fn asked_paths_are_temp_roots_for_the_session() {
    if !have_tools() {
        return;
    }
    let s = Sshd::start(Remote::Ferrix);
    let local = s.dir.join("local");
    let drv = make_closure(&s, &local);
    let copy = s.dir.join("bin/nix-copy-closure");
    run_ok(
        s.client(copy.to_str().unwrap(), &local, "key_rw")
            .args(["--to", s.host(), &drv]),
    );
    let want = closure(&s, &s.remote(), &drv);
    let paths: BTreeSet<StorePath> = want
        .iter()
        .map(|p| StoreDir::default().parse(p).unwrap())
        .collect();
    let gc = || run_ok(nix_store(&s, &s.remote()).arg("--gc"));
    {
        let store = s.ssh_store(ServeBuildSettings::default());
        assert_eq!(store.query_valid(&paths, true, false).unwrap(), paths);
        gc();
        assert_eq!(
            closure(&s, &s.remote(), &drv),
            want,
            "kept during the session"
        );
        verify(&s, &s.remote());
    }
    // The session is over once the store is dropped (the remote process has exited).
    gc();
    let o = nix_store(&s, &s.remote())
        .args(["--check-validity", &drv])
        .output()
        .unwrap();
    assert!(!o.status.success(), "collected after the session");
}

/// Ferrix's commands on `--store ssh://…`: queries of a remote store, and a build there
/// (`BuildPaths`) with the derivation's closure sent first.
fn store_commands_on_ssh(remote: Remote) {
    if !have_tools() || !Path::new("/bin/busybox").exists() {
        return;
    }
    let s = Sshd::start(remote);
    let local = s.dir.join("local");
    let (drv, _) = make_build(&s, "read x < $input; echo \"built $x\" > $out");
    let ferrix_store = s.dir.join("bin/nix-store");
    let uri = format!("ssh://{}", s.host());
    let ferrix = |args: &[&str]| {
        run_ok(
            s.client(ferrix_store.to_str().unwrap(), &local, "key_rw")
                .args(["--store", &uri])
                .args(args),
        )
    };
    run_ok(
        s.client(
            s.dir.join("bin/nix-copy-closure").to_str().unwrap(),
            &local,
            "key_rw",
        )
        .args(["--to", s.host(), &drv]),
    );
    // Queries answer as Nix 2.8 answers them on the remote's own store.
    for q in [
        &["-qR", &drv][..],
        &["-q", "--hash", &drv],
        &["-q", "--references", &drv],
    ] {
        let got = ferrix(q).stdout;
        let want = run_ok(nix_store(&s, &s.remote()).args(q)).stdout;
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "{q:?}"
        );
    }
    // A build on the remote.
    let out = String::from_utf8(ferrix(&["-r", &drv]).stdout).unwrap();
    let out = out.trim();
    assert!(out.ends_with("-built"), "{out}");
    run_ok(nix_store(&s, &s.remote()).args(["--check-validity", out]));
    let content = std::fs::read_to_string(s.remote().join(out.trim_start_matches('/'))).unwrap();
    assert!(content.starts_with("built see /nix/store/"), "{content}");
    // A failing build: its log comes back through SSH, and the failure is an error.
    let (drv, _) = make_build(&s, "echo remote-log-line-42; exit 3");
    run_ok(
        s.client(
            s.dir.join("bin/nix-copy-closure").to_str().unwrap(),
            &local,
            "key_rw",
        )
        .args(["--to", s.host(), &drv]),
    );
    let o = s
        .client(ferrix_store.to_str().unwrap(), &local, "key_rw")
        .args(["--store", &uri, "-r", &drv])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let t = text(&o);
    assert!(t.contains("remote-log-line-42\n"), "{t}");
    assert!(t.contains("exit code 3"), "{t}");
    // As Nix's server, the remote says nothing but the build's output and its errors.
    assert!(!t.contains("building '"), "{t}");

    // A path the remote lacks is an error, not a hang.
    let o = s
        .client(ferrix_store.to_str().unwrap(), &local, "key_rw")
        .args([
            "--store",
            &uri,
            "-q",
            "--hash",
            "/nix/store/00000000000000000000000000000000-x",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("is not valid"), "{}", text(&o));
}

#[test]
fn store_commands_on_ssh_ferrix() {
    store_commands_on_ssh(Remote::Ferrix);
}

#[test]
fn store_commands_on_ssh_nix() {
    store_commands_on_ssh(Remote::Nix);
}

/// `--include-outputs` copies the outputs of the derivations in the closure too, both
/// ways (`--from` asks the remote for the closure with outputs: `QueryClosure`).
fn include_outputs(remote: Remote, client: Client) {
    if !have_tools() || !Path::new("/bin/busybox").exists() {
        return;
    }
    let s = Sshd::start(remote);
    let local = s.dir.join("local");
    let (drv, _) = make_build(&s, "read x < $input; echo \"built $x\" > $out");
    let out = String::from_utf8(run_ok(nix_store(&s, &local).args(["-r", &drv])).stdout)
        .unwrap()
        .trim()
        .to_string();
    let program = match client {
        Client::Ferrix => s.dir.join("bin/nix-copy-closure"),
        Client::Nix => PathBuf::from("nix-copy-closure"),
    };
    let copy = |store: &Path, args: &[&str]| {
        run_ok(
            s.client(program.to_str().unwrap(), store, "key_rw")
                .args(args),
        )
    };
    copy(&local, &["--to", s.host(), &drv]);
    let valid = |store: &Path, p: &str| {
        nix_store(&s, store)
            .args(["--check-validity", p])
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(
        !valid(&s.remote(), &out),
        "without --include-outputs, no output"
    );
    copy(&local, &["--include-outputs", "--to", s.host(), &drv]);
    assert!(valid(&s.remote(), &out));
    verify(&s, &s.remote());

    let back = s.dir.join("back");
    std::fs::create_dir_all(&back).unwrap();
    copy(&back, &["--from", s.host(), &drv]);
    assert!(!valid(&back, &out));
    copy(&back, &["--from", "--include-outputs", s.host(), &drv]);
    assert!(valid(&back, &out));
    verify(&s, &back);
}

// Nix 2.8's own nix-copy-closure parses --include-outputs and then does not use it, so
// only Ferrix's client is tried (against both servers).
#[test]
fn include_outputs_ferrix_client_ferrix_serve() {
    include_outputs(Remote::Ferrix, Client::Ferrix);
}

#[test]
fn include_outputs_ferrix_client_nix_serve() {
    include_outputs(Remote::Nix, Client::Ferrix);
}

/// `--use-substitutes`: a remote that can substitute (Nix 2.8's, with a binary cache)
/// fetches what its cache has, and Ferrix's `nix-copy-closure` sends only the rest.
#[test]
fn use_substitutes_lets_the_remote_substitute() {
    if !have_tools() {
        return;
    }
    let s = Sshd::start(Remote::Nix);
    let local = s.dir.join("local");
    let drv = make_closure(&s, &local);
    let all = closure(&s, &local, &drv);
    // A binary cache with the text files only, which the remote trusts.
    let cache = s.dir.join("cache");
    let texts: Vec<&String> = all
        .iter()
        .filter(|p| p.ends_with("-a") || p.ends_with("-b") || p.ends_with("-c"))
        .collect();
    assert_eq!(texts.len(), 3);
    let mut nix_copy = s.client("nix", &local, "key_rw");
    nix_copy
        .args([
            "--extra-experimental-features",
            "nix-command",
            "copy",
            "--to",
        ])
        .arg(format!("file://{}", cache.display()))
        .arg("--store")
        .arg(&local)
        .args(&texts);
    run_ok(&mut nix_copy);
    std::fs::write(
        s.dir.join("etc/nix.conf"),
        format!(
            "{CONF}substituters = file://{}\nrequire-sigs = false\n",
            cache.display()
        )
        .replace("substituters =\n", ""),
    )
    .unwrap();
    let o = run_ok(
        s.client(
            s.dir.join("bin/nix-copy-closure").to_str().unwrap(),
            &local,
            "key_rw",
        )
        .args(["-s", "--to", s.host(), &drv]),
    );
    for t in &texts {
        // The remote's own messages (through ssh) say it substituted them.
        assert!(
            !text(&o).contains(&format!("copying path '{t}' to")),
            "{}",
            text(&o)
        );
        assert!(
            text(&o).contains(&format!("copying path '{t}' from 'file://")),
            "{}",
            text(&o)
        );
    }
    assert!(text(&o).contains("copying 2 paths"), "{}", text(&o));
    assert_eq!(closure(&s, &s.remote(), &drv), all);
    verify(&s, &s.remote());
}

/// `nix-copy-closure`'s argument errors and warnings are Nix 2.8's.
#[test]
fn copy_closure_arguments_as_nix() {
    let nix = Command::new("nix-copy-closure").arg("--version").output();
    if !nix.is_ok_and(|o| o.status.success()) {
        eprintln!("note: nix-copy-closure (Nix 2.8) is not installed; skipping");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let link = tmp.path().join("nix-copy-closure");
    std::os::unix::fs::symlink(BIN, &link).unwrap();
    for args in [
        &[][..],
        &["--bzip2", "--show-progress"],
        &["--from", "--gzip"],
    ] {
        let run = |p: &Path| {
            let o = Command::new(p)
                .args(args)
                .env("HOME", tmp.path())
                .stdin(Stdio::null())
                .output()
                .unwrap();
            (o.status.code(), text(&o))
        };
        assert_eq!(run(&link), run(Path::new("nix-copy-closure")), "{args:?}");
    }
}

/// A derivation built with busybox's `sh` running `script`, with a text input (`$input`)
/// and an input derivation (`$dep`, whose output says `dep`).
fn hook_expr(script: &str) -> String {
    format!(
        r#"let a = builtins.toFile "a" "hello";
               dep = derivation {{ name = "dep"; system = "x86_64-linux"; builder = "/bin/sh";
                                  args = ["-c" "echo building-dep; echo dep > $out"]; }};
           in derivation {{ name = "remote"; system = "x86_64-linux"; builder = "/bin/sh";
                           args = ["-c" ''{script}'']; input = a; inherit dep; }}"#
    )
}

/// `client`'s `nix-build` with `--store store` and `args`, building `expr`.
fn client_build(s: &Sshd, client: Client, store: &Path, args: &[&str], expr: &str) -> Output {
    let mut c = match client {
        Client::Nix => s.client("nix-build", store, "key_rw"),
        Client::Ferrix => {
            let mut c = s.client(BIN, store, "key_rw");
            c.arg("build");
            c
        }
    };
    c.arg("--store")
        .arg(store)
        .arg("--no-out-link")
        .args(args)
        .args(["-E", expr])
        .output()
        .unwrap()
}

/// `client`'s `nix-build -j0 --builders 'ssh://…'` builds on a `remote` serve: the input
/// closure goes there, the outputs come back equal to a local build's and pass Nix 2.8's
/// `--verify --check-contents`, and a failing build's log reaches the client.
fn build_hook(remote: Remote, client: Client) {
    if !have_tools() || !Path::new("/bin/busybox").exists() {
        return;
    }
    let s = Sshd::start(remote);
    let local = s.dir.join("local");
    let builders = format!("ssh://{} x86_64-linux - 1 1", s.host());
    let remote_args = ["-j0", "--builders", builders.as_str()];
    let ok = hook_expr(
        "echo on-the-remote; read x < $input; read y < $dep; echo \"remote $x $y\" > $out",
    );
    let o = client_build(&s, client, &local, &remote_args, &ok);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let t = text(&o);
    assert!(
        t.contains("on-the-remote") && t.contains("building-dep"),
        "{t}"
    );
    assert!(
        t.contains(&format!("' on 'ssh://{}'...", s.host())),
        "the build says where it runs: {t}"
    );
    let read = |store: &Path| std::fs::read_to_string(store.join(out.trim_start_matches('/')));
    assert_eq!(read(&local).unwrap(), "remote hello dep\n");
    assert_eq!(
        read(&s.remote()).unwrap(),
        "remote hello dep\n",
        "built on the remote"
    );
    verify(&s, &local);
    // The same derivation built here gives the same output.
    let plain = s.dir.join("plain");
    let o = client_build(&s, client, &plain, &[], &ok);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), out);
    assert_eq!(read(&plain).unwrap(), read(&local).unwrap());
    let refs =
        |store: &Path| run_ok(nix_store(&s, store).args(["-q", "--references", &out])).stdout;
    assert_eq!(refs(&plain), refs(&local), "the same references");

    let o = client_build(
        &s,
        client,
        &local,
        &remote_args,
        &hook_expr("echo remote-failure-log; exit 5"),
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("remote-failure-log"), "{}", text(&o));
}

#[test]
fn nix_build_hook_builds_on_ferrix_serve() {
    build_hook(Remote::Ferrix, Client::Nix);
}

#[test]
fn ferrix_builds_on_nix_serve() {
    build_hook(Remote::Nix, Client::Ferrix);
}

#[test]
fn ferrix_builds_on_ferrix_serve() {
    build_hook(Remote::Ferrix, Client::Ferrix);
}

/// Floating content-addressed derivations (`ca-derivations`): Nix 2.8's hook sends them
/// to a Ferrix serve, which builds them at scratch paths, moves each output to the path
/// its content gives (self-references and a reference between outputs included) and
/// reports the realisations; the paths and contents equal Nix 2.8's own local build, and
/// Nix verifies them.
#[test]
fn nix_builds_floating_ca_on_ferrix_serve() {
    if !have_tools() || !Path::new("/bin/busybox").exists() {
        return;
    }
    let s = Sshd::start(Remote::Ferrix);
    std::fs::write(
        s.dir.join("etc/nix.conf"),
        format!("{CONF}experimental-features = ca-derivations\n"),
    )
    .unwrap();
    let local = s.dir.join("local");
    let builders = format!("ssh://{} x86_64-linux - 1 1 ca-derivations", s.host());
    let ca = r#"let ca = { __contentAddressed = true; outputHashMode = "recursive";
                             outputHashAlgo = "sha256"; system = "x86_64-linux";
                             builder = "/bin/sh"; };
                      dep = derivation (ca // { name = "cadep";
                        args = ["-c" "mkdir $out; echo dep > $out/f; echo $out > $out/self"]; });
                  in "#;
    let expr = &format!(
        r#"{ca} derivation (ca // {{ name = "ca"; outputs = [ "out" "dev" ];
                        args = ["-c" "mkdir $out $dev; echo $dev > $out/dev; echo $out > $out/self; cat ${{dep}}/f > $dev/f; echo ${{dep}} > $dev/dep"]; }})"#
    );
    let o = client_build(
        &s,
        Client::Nix,
        &local,
        &["-j0", "--builders", &builders],
        expr,
    );
    assert!(o.status.success(), "{}", text(&o));
    // Nix 2.8 prints `out`, which names `dev`.
    let out = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let dev = std::fs::read_to_string(local.join(out.trim_start_matches('/')).join("dev"))
        .unwrap()
        .trim()
        .to_string();
    assert!(dev.ends_with("-ca-dev"), "{dev}");
    let outs = [out.clone(), dev];
    let t = text(&o);
    assert!(t.contains(&format!("' on 'ssh://{}'...", s.host())), "{t}");
    // Built on the remote, and registered there under the same paths.
    for out in &outs {
        assert!(
            s.remote().join(out.trim_start_matches('/')).exists(),
            "{out} is on the remote"
        );
    }
    // Nix 2.8 building the same here gives the same paths and contents.
    let plain = s.dir.join("plain");
    let o = client_build(&s, Client::Nix, &plain, &[], expr);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), out);
    for out in &outs {
        let hash = |store: &Path| run_ok(nix_store(&s, store).args(["-q", "--hash", out])).stdout;
        assert_eq!(hash(&plain), hash(&local), "{out}");
        assert_eq!(hash(&s.remote()), hash(&local), "{out}");
        let refs =
            |store: &Path| run_ok(nix_store(&s, store).args(["-q", "--references", out])).stdout;
        assert_eq!(refs(&s.remote()), refs(&plain), "{out}");
    }
    let self_ref =
        std::fs::read_to_string(local.join(out.trim_start_matches('/')).join("self")).unwrap();
    assert_eq!(
        self_ref.trim(),
        out,
        "the self-reference names the final path"
    );
    verify(&s, &local);
    verify(&s, &s.remote());
    // The remote recorded the realisations, in tables Nix 2.8 reads: `dep` has no inputs,
    // so the derivation the remote built is `dep` itself.
    let o = run_ok(
        s.client("nix", &s.remote(), "key_rw")
            .args(["realisation", "info", "--json", "--store"])
            .arg(s.remote())
            .args([
                "--extra-experimental-features",
                "nix-command ca-derivations",
            ])
            .args(["--expr", &format!("{ca} dep")]),
    );
    let info = String::from_utf8_lossy(&o.stdout);
    let dep =
        std::fs::read_to_string(local.join(outs[1].trim_start_matches('/')).join("dep")).unwrap();
    let dep_base = dep.trim().trim_start_matches("/nix/store/").to_string();
    assert!(
        info.contains(&format!("\"outPath\":\"{dep_base}\"")),
        "{info}"
    );
}

/// Machine choice: a derivation that no machine fits is built here, or, with `-j0`,
/// fails with Nix's list of machines; a required feature sends it to the machine that
/// offers it; a machines file (`builders = @FILE`) is read; an unreachable machine is
/// reported and another one used.
#[test]
fn ferrix_chooses_machines_as_nix() {
    if !have_tools() || !Path::new("/bin/busybox").exists() {
        return;
    }
    let s = Sshd::start(Remote::Ferrix);
    let local = s.dir.join("local");
    let expr = |name: &str, features: &str| {
        format!(
            r#"derivation {{ name = "{name}"; system = "x86_64-linux"; builder = "/bin/sh";
                            requiredSystemFeatures = [ {features} ];
                            args = ["-c" "echo built-{name} > $out"]; }}"#
        )
    };
    let on_remote = |out: &str| s.remote().join(out.trim_start_matches('/')).exists();
    let stdout = |o: &Output| String::from_utf8_lossy(&o.stdout).trim().to_string();

    // Only an aarch64 machine: built here.
    let arm = format!("ssh://{} aarch64-linux - 1 1", s.host());
    let o = client_build(
        &s,
        Client::Ferrix,
        &local,
        &["--builders", &arm],
        &expr("a", ""),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(!on_remote(&stdout(&o)), "built locally");
    // With -j0 it cannot be built anywhere.
    let o = client_build(
        &s,
        Client::Ferrix,
        &local,
        &["-j0", "--builders", &arm],
        &expr("b", ""),
    );
    assert!(!o.status.success());
    let t = text(&o);
    assert!(
        t.contains("Failed to find a machine for remote build!")
            && t.contains("required (system, features): (x86_64-linux, )")
            && t.contains("(aarch64-linux, 1, , )")
            && t.contains("unable to start any build"),
        "{t}"
    );

    // A mandatory feature: only derivations that ask for it go there; the others stay.
    let machines = s.dir.join("machines");
    std::fs::write(
        &machines,
        format!(
            "# remote builders\nssh://{} x86_64-linux - 2 1 kvm kvm\n",
            s.host()
        ),
    )
    .unwrap();
    let file = format!("@{}", machines.display());
    let o = client_build(
        &s,
        Client::Ferrix,
        &local,
        &["--builders", &file],
        &expr("c", "\"kvm\""),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        on_remote(&stdout(&o)),
        "the kvm build went to the kvm machine"
    );
    let o = client_build(
        &s,
        Client::Ferrix,
        &local,
        &["--builders", &file],
        &expr("d", ""),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(!on_remote(&stdout(&o)), "without kvm it stays here");

    // An unreachable machine first (sshd listens on 127.0.0.1 only): reported, and the
    // next one builds.
    let dead = format!(
        "ssh://root@127.0.0.2 x86_64-linux - 1 2; ssh://{} x86_64-linux - 1 1",
        s.host()
    );
    let o = client_build(
        &s,
        Client::Ferrix,
        &local,
        &["-j0", "--builders", &dead],
        &expr("e", ""),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("cannot build on 'ssh://"), "{}", text(&o));
    assert!(on_remote(&stdout(&o)));
}

/// `ssh://HOST` as a substituter: `ferrix build -j0` gets the output (and its closure) from
/// a `remote` serve instead of building it, checked against its NAR hash; unsigned paths
/// need the substituter to be trusted when `require-sigs` is on.
fn ssh_substituter(remote: Remote) {
    if !have_tools() || !Path::new("/bin/busybox").exists() {
        return;
    }
    let s = Sshd::start(remote);
    let expr = hook_expr("read x < $input; read y < $dep; echo \"sub $x $y\" > $out");
    // Built in the remote's store, by Nix 2.8.
    let o = s
        .client("nix-build", &s.remote(), "key_rw")
        .arg("--store")
        .arg(s.remote())
        .args(["--no-out-link", "-E", &expr])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let local = s.dir.join("local");
    let sub = |uri: &str| {
        client_build(
            &s,
            Client::Ferrix,
            &local,
            &["-j0", "--option", "substituters", uri],
            &expr,
        )
    };
    // Unsigned and untrusted: refused, and nothing can be built.
    let o = sub(&format!("ssh://{}", s.host()));
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("is not signed by any of the keys in 'trusted-public-keys'"),
        "{}",
        text(&o)
    );
    let o = sub(&format!("ssh://{}?trusted=1", s.host()));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), out);
    assert!(
        text(&o).contains(&format!("copying path '{out}' from 'ssh://{}'", s.host())),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains("building '"), "{}", text(&o));
    let read = |store: &Path| std::fs::read_to_string(store.join(out.trim_start_matches('/')));
    assert_eq!(read(&local).unwrap(), "sub hello dep\n");
    verify(&s, &local);
}

#[test]
fn ssh_substituter_ferrix_serve() {
    ssh_substituter(Remote::Ferrix);
}

#[test]
fn ssh_substituter_nix_serve() {
    ssh_substituter(Remote::Nix);
}

/// The race the temp roots prevent: the collector runs on the remote again and again while
/// Nix 2.8's `nix-copy-closure` sends a closure whose older half is already there. The
/// older half loses its GC roots just after the remote has told the client it has them (as
/// soon as they show up in the session's temp roots); they must survive until the root
/// (a GC root on the remote as soon as it is valid) arrives, so that the closure is whole.
///
/// The collector is Ferrix's: Nix 2.8's deletes Ferrix's temporary files in the store
/// directory (see the note in the report).
#[test]
fn remote_gc_during_a_copy_loses_nothing() {
    if !have_tools() {
        return;
    }
    let s = Sshd::start(Remote::Ferrix);
    let local = s.dir.join("local");
    let out = run_ok(
        s.client("nix-instantiate", &local, "key_rw")
            .arg("--store")
            .arg(&local)
            .args(["--read-write-mode", "--eval", "--strict", "--json", "-E"])
            .arg(
                r#"let fs = builtins.genList (i: builtins.toFile "f${toString i}" "file ${toString i}") 400;
                   in fs ++ [ (builtins.toFile "root" (builtins.concatStringsSep " " fs)) ]"#,
            ),
    );
    let all: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    let root = all.last().unwrap().clone();
    // The older half is on the remote, kept by GC roots for now.
    run_ok(
        s.client("nix-copy-closure", &local, "key_rw")
            .args(["--to", s.host()])
            .args(&all[..200]),
    );
    let gcroots = s.remote().join("nix/var/nix/gcroots");
    let old_roots = gcroots.join("old");
    std::fs::create_dir_all(&old_roots).unwrap();
    for (i, p) in all[..200].iter().enumerate() {
        std::os::unix::fs::symlink(p, old_roots.join(i.to_string())).unwrap();
    }
    // The root will be a GC root on the remote as soon as it is valid there.
    std::os::unix::fs::symlink(&root, gcroots.join("closure")).unwrap();

    // The temp-roots files that exist now belong to the setup's session (which may not
    // have removed its file yet): only a file of the copy's session counts below.
    let temproots = s.remote().join("nix/var/nix/temproots");
    let before: BTreeSet<std::ffi::OsString> = std::fs::read_dir(&temproots)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name())
        .collect();

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let gc = {
        let (stop, runs) = (stop.clone(), runs.clone());
        let mut cmd = s.client(
            s.dir.join("bin/nix-store").to_str().unwrap(),
            &s.remote(),
            "key_rw",
        );
        cmd.arg("--store")
            .arg(s.remote())
            .arg("--gc")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = cmd.status();
                runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        })
    };
    let copy = s
        .client("nix-copy-closure", &local, "key_rw")
        .args(["--to", s.host(), &root])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the session holds the whole older half as temp roots, their GC roots go.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let held = std::fs::read_dir(&temproots)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| !before.contains(&e.file_name()))
            .any(|e| {
                // Every path of the older half, not just the first: the session takes them
                // one after the other.
                std::fs::read_to_string(e.path())
                    .is_ok_and(|t| all[..200].iter().all(|p| t.contains(p.as_str())))
            });
        if held {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the session never held the paths"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    std::fs::remove_dir_all(&old_roots).unwrap();
    let runs_before = runs.load(std::sync::atomic::Ordering::Relaxed);
    let o = copy.wait_with_output().unwrap();
    // One more full run of the collector after the copy (the old half is unrooted then,
    // except through the closure's root).
    let target = runs.load(std::sync::atomic::Ordering::Relaxed) + 2;
    while runs.load(std::sync::atomic::Ordering::Relaxed) < target {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    gc.join().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("copying 201 paths..."),
        "the older half was not sent again: {}",
        text(&o)
    );
    assert!(
        runs.load(std::sync::atomic::Ordering::Relaxed) > runs_before,
        "the collector ran"
    );
    assert_eq!(closure(&s, &s.remote(), &root).len(), all.len());
    verify(&s, &s.remote());
}
