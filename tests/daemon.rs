//! `nix-daemon` against Nix 2.8: Nix 2.8's own client (`nix-store`, `nix-instantiate`,
//! `nix-build` with `NIX_REMOTE=unix://…`) talks to a Ferrix daemon and to Nix 2.8's daemon,
//! each serving a chroot store in a temporary directory, and must see the same results;
//! `allowed-users`/`trusted-users` keep an unprivileged client where Nix keeps it; a client
//! that hangs up takes its build with it; a hundred clients at once leave a store Nix 2.8
//! verifies.
//!
//! Every daemon has its own temporary `NIX_STATE_DIR` (where its socket is) and
//! `NIX_CONF_DIR`, every client a temporary `HOME`; nothing touches the machine's `/nix`.
//! Builds run in the sandbox with Debian's static busybox as `/bin/sh` (a chroot store always
//! builds sandboxed). The tests skip, with a note, when Nix 2.8 or busybox is not installed.

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ferrix");

/// Settings every daemon here runs with: no build users (the tests run as root), builds in
/// the sandbox with busybox as `/bin/sh`, nothing from the network.
const BASE_CONF: &str =
    "build-users-group =\nsandbox = true\nsandbox-paths = /bin/sh=/bin/busybox\nsubstituters =\n";

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
];

/// Whether the tests can run here: as root (daemons serve other users, builds are
/// sandboxed), with Nix 2.8, busybox and `setpriv`.
fn have_tools() -> bool {
    use std::os::unix::fs::MetadataExt;
    if std::fs::metadata("/proc/self").map(|m| m.uid()).ok() != Some(0) {
        eprintln!("note: not running as root; skipping the daemon tests");
        return false;
    }
    if !Path::new("/usr/bin/setpriv").exists() && !Path::new("/bin/setpriv").exists() {
        eprintln!("note: setpriv (util-linux) is not installed; skipping the daemon tests");
        return false;
    }
    let nix = Command::new("nix-store")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !nix {
        eprintln!("note: nix-store is not installed; skipping the daemon tests against Nix 2.8");
        return false;
    }
    if !Path::new("/bin/busybox").exists() {
        eprintln!("note: /bin/busybox (busybox-static) is not installed; skipping");
        return false;
    }
    true
}

/// A temporary directory, canonical, that every user can traverse and read.
fn open_tempdir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().canonicalize().unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    (tmp, dir)
}

// ---------------------------------------------------------------------------------------
// Daemons

/// Which daemon serves the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Server {
    Ferrix,
    Nix,
}

const SERVERS: [Server; 2] = [Server::Ferrix, Server::Nix];

/// A running daemon on a chroot store of its own, killed when dropped. Its directory holds
/// `etc/nix.conf`, `state/` (`NIX_STATE_DIR`, with the socket), `root/` (the chroot store)
/// and `daemon.log` (its standard error).
struct Daemon {
    server: Server,
    child: Option<Child>,
    dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Daemon {
    /// Starts `server` with `BASE_CONF` and then `conf` in its `nix.conf`, and waits for its
    /// socket to accept connections.
    fn start(server: Server, conf: &str) -> Daemon {
        let (tmp, dir) = open_tempdir();
        for d in ["etc", "state", "root", "home"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
            std::fs::set_permissions(dir.join(d), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::write(dir.join("etc/nix.conf"), format!("{BASE_CONF}{conf}")).unwrap();
        let mut d = Daemon {
            server,
            child: None,
            dir,
            _tmp: tmp,
        };
        d.spawn();
        d
    }

    fn spawn(&mut self) {
        let mut c = match self.server {
            Server::Ferrix => {
                let mut c = Command::new(BIN);
                c.arg("daemon");
                c
            }
            Server::Nix => Command::new("nix-daemon"),
        };
        for v in STORE_VARS {
            c.env_remove(v);
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("daemon.log"))
            .unwrap();
        c.arg("--store")
            .arg(self.root())
            .env("NIX_CONF_DIR", self.dir.join("etc"))
            .env("NIX_STATE_DIR", self.dir.join("state"))
            .env("NIX_USER_CONF_FILES", "")
            .env("HOME", self.dir.join("home"))
            .env("TMPDIR", self.dir.join("home"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        self.child = Some(c.spawn().expect("start the daemon"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while UnixStream::connect(self.socket()).is_err() {
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("{:?} daemon exited ({st}): {}", self.server, self.log());
            }
            assert!(
                Instant::now() < deadline,
                "{:?} daemon did not listen",
                self.server
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the daemon (and with it, its listener; connection processes end when their
    /// clients do).
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("state/daemon-socket/socket")
    }

    /// The store as a client names it: the daemon's socket and, since Nix 2.8's client
    /// reads store paths' contents itself (`--export`), where the logical store is.
    fn uri(&self) -> String {
        format!(
            "unix://{}?root={}",
            self.socket().display(),
            self.root().display()
        )
    }

    /// The chroot store's root: the logical `/nix/store` is at `root()/nix/store`.
    fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    /// Where the bytes of the logical store path `p` are.
    fn real(&self, p: &str) -> PathBuf {
        self.root().join(p.trim_start_matches('/'))
    }

    /// Whether the daemon's listener still runs (for failure messages).
    fn state(&self) -> String {
        let Some(c) = &self.child else {
            return "stopped".into();
        };
        match std::fs::read_to_string(format!("/proc/{}/stat", c.id())) {
            Ok(st) if !st.contains(") Z ") => "listening".into(),
            _ => format!("exited; its log:\n{}", self.log()),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }

    /// The log once it contains `text`, or as it is after ten seconds.
    fn log_containing(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if log.contains(text) || Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Replaces this daemon's directory in `s` with `$DIR`, and what names a client's
    /// process with `PID` (see `norm_pids`).
    fn norm(&self, s: &str) -> String {
        norm_pids(&s.replace(&self.dir.display().to_string(), "$DIR"))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `nix-build` keeps its temporary root in `$TMPDIR/nix-build-<pid>-<n>/`, and the daemon
/// names the link to it in `gcroots/auto` after that path: both become `PID` here.
fn norm_pids(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("nix-build-") {
        let (head, tail) = rest.split_at(i + "nix-build-".len());
        out.push_str(head);
        let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            out.push_str("PID");
        }
        rest = &tail[digits..];
    }
    out.push_str(rest);
    let mut s = out;
    let mut from = 0;
    while let Some(i) = s[from..].find("gcroots/auto/") {
        let start = from + i + "gcroots/auto/".len();
        let len = s[start..]
            .bytes()
            .take_while(u8::is_ascii_alphanumeric)
            .count();
        s.replace_range(start..start + len, "PID");
        from = start;
    }
    s
}

// ---------------------------------------------------------------------------------------
// Clients

/// Which client talks to the daemon. Ferrix's own client (`ferrix store --store unix://…`)
/// is to join Nix 2.8's here: `command` is the one place that knows how each is run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientKind {
    Nix,
}

/// The commands the tests run, by their Nix names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tool {
    Store,
    Instantiate,
    Build,
}

/// A client: its kind, the user it runs as and its `HOME` (which also serves as its
/// `NIX_STATE_DIR` and `TMPDIR`, so nothing of the machine's is used).
struct Client {
    kind: ClientKind,
    /// `Some((uid, gid))`: run with these ids and no supplementary groups.
    user: Option<(u32, u32)>,
    home: PathBuf,
    _tmp: tempfile::TempDir,
}

struct Out {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

impl Out {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    #[track_caller]
    fn ok(&self) -> String {
        assert_eq!(self.code, 0, "failed: {}", self.stderr);
        self.stdout()
    }
}

impl Client {
    fn root() -> Client {
        Client::new(ClientKind::Nix, None)
    }

    /// Nix 2.8's client as `nobody`.
    fn nobody() -> Client {
        Client::new(ClientKind::Nix, Some((65534, 65534)))
    }

    fn new(kind: ClientKind, user: Option<(u32, u32)>) -> Client {
        let (tmp, home) = open_tempdir();
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(&home, Some(uid), Some(gid)).unwrap();
        }
        Client {
            kind,
            user,
            home,
            _tmp: tmp,
        }
    }

    /// The command running `tool` against daemon `d`.
    fn command(&self, d: &Daemon, tool: Tool, args: &[&str]) -> Command {
        let mut c = match self.user {
            Some((uid, gid)) => {
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={gid}"))
                    .arg("--clear-groups")
                    .arg("--");
                c
            }
            None => Command::new("env"),
        };
        for v in STORE_VARS {
            c.env_remove(v);
        }
        match self.kind {
            ClientKind::Nix => {
                c.arg(match tool {
                    Tool::Store => "nix-store",
                    Tool::Instantiate => "nix-instantiate",
                    Tool::Build => "nix-build",
                });
                c.env("NIX_REMOTE", d.uri());
            }
        }
        // The daemon's nix.conf: the client sends its settings to the daemon, so both
        // agree (as a client on the daemon's machine would).
        c.env("NIX_CONF_DIR", d.dir.join("etc"))
            .env("NIX_USER_CONF_FILES", "")
            .env("NIX_STATE_DIR", self.home.join("state"))
            .env("HOME", &self.home)
            .env("TMPDIR", &self.home)
            .args(args);
        c
    }

    fn run_in(&self, d: &Daemon, tool: Tool, args: &[&str], input: Option<&[u8]>) -> Out {
        let mut c = self.command(d, tool, args);
        c.stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = c.spawn().expect("run the client");
        if let Some(data) = input {
            let mut stdin = child.stdin.take().unwrap();
            let data = data.to_vec();
            std::thread::spawn(move || {
                let _ = stdin.write_all(&data);
            });
        }
        let o = child.wait_with_output().unwrap();
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: o.stdout,
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    fn store(&self, d: &Daemon, args: &[&str]) -> Out {
        self.run_in(d, Tool::Store, args, None)
    }

    fn instantiate(&self, d: &Daemon, args: &[&str]) -> Out {
        self.run_in(d, Tool::Instantiate, args, None)
    }

    fn build(&self, d: &Daemon, args: &[&str]) -> Out {
        self.run_in(d, Tool::Build, args, None)
    }
}

// ---------------------------------------------------------------------------------------
// Inputs

/// A tree with a regular file, an executable, symlinks, an empty directory and a non-ASCII
/// name.
fn make_tree(root: &Path) {
    std::fs::create_dir_all(root.join("sub/empty")).unwrap();
    std::fs::write(root.join("file"), "contents\n").unwrap();
    std::fs::write(root.join("exe"), "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(root.join("exe"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(root.join("sub/ünïcödé ☃"), [0u8, 1, 2, 255]).unwrap();
    std::os::unix::fs::symlink("file", root.join("link")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/target", root.join("sub/dangling")).unwrap();
    std::fs::write(root.join("big"), vec![b'x'; 100_003]).unwrap();
}

/// Three derivations: `a`, `b` (a directory referring to `a`), `c` (referring to both);
/// `only-ferrix` and `only-nix` are built on one daemon each and then carried to the other.
const GRAPH: &str = r#"
let
  mk = name: script: deps: derivation {
    inherit name deps;
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" script ];
  };
  a = mk "a" "echo a > $out" [ ];
  b = mk "b" "mkdir -p $out/sub; echo b > $out/sub/b; ln -s $deps $out/a" [ a ];
  c = mk "c" "echo building c; echo $deps > $out" [ a b ];
in {
  inherit a b c;
  only-ferrix = mk "only-ferrix" "echo $deps > $out" [ b ];
  only-nix = mk "only-nix" "echo $deps > $out" [ b ];
}
"#;

/// A derivation whose builder runs `script` (`sh -c`).
fn drv_expr(name: &str, script: &str) -> String {
    format!(
        r#"derivation {{ name = "{name}"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" "{script}" ]; }}"#
    )
}

/// The NAR of `p` (a path on this machine's file system), as Nix 2.8 writes it.
fn dump(p: &Path) -> Vec<u8> {
    let o = Command::new("nix-store")
        .arg("--dump")
        .arg(p)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o.stdout
}

fn lines(s: &str) -> Vec<String> {
    s.lines().map(str::to_owned).collect()
}

/// Runs `f` against each daemon and asserts the results are the same, once each side's
/// directory is replaced by `$DIR` (see `Daemon::norm`): the exit status, standard output
/// and standard error. `what` names the comparison in failures. Returns the (normalised)
/// standard output.
#[track_caller]
fn same(daemons: &[Daemon; 2], what: &str, mut f: impl FnMut(&Daemon) -> Out) -> String {
    let outs: Vec<(i32, String, String)> = daemons
        .iter()
        .map(|d| {
            let o = f(d);
            (o.code, d.norm(&o.stdout()), d.norm(&o.stderr))
        })
        .collect();
    let (f_, n) = (&outs[0], &outs[1]);
    assert_eq!(
        f_.0, n.0,
        "{what}: exit status differs (ferrix {}, nix {})\nferrix: {}\nnix: {}",
        f_.0, n.0, f_.2, n.2
    );
    assert_eq!(
        f_.1, n.1,
        "{what}: stdout differs\nferrix stderr: {}\nnix stderr: {}",
        f_.2, n.2
    );
    assert_eq!(f_.2, n.2, "{what}: stderr differs");
    eprintln!("same from both daemons: {what} (exit {})", f_.0);
    f_.1.clone()
}

// ---------------------------------------------------------------------------------------
// 1. Nix 2.8's client sees the same store through either daemon

#[test]
fn nix_client_sees_the_same_results_from_ferrix_and_nix_daemons() {
    if !have_tools() {
        return;
    }
    let ds = [
        Daemon::start(Server::Ferrix, ""),
        Daemon::start(Server::Nix, ""),
    ];
    let client = Client::root();
    let (_tmp, inputs) = open_tempdir();
    let file = inputs.join("hello.txt");
    std::fs::write(&file, "hello, daemon\n").unwrap();
    let tree = inputs.join("tree");
    make_tree(&tree);
    let tamper = inputs.join("tamper.txt");
    std::fs::write(&tamper, "original\n").unwrap();
    let graph = inputs.join("graph.nix");
    std::fs::write(&graph, GRAPH).unwrap();
    let (file, tree, tamper, graph) = (
        file.to_str().unwrap(),
        tree.to_str().unwrap(),
        tamper.to_str().unwrap(),
        graph.to_str().unwrap(),
    );

    // Adding sources.
    let pf = same(&ds, "--add file", |d| client.store(d, &["--add", file]));
    let pt = same(&ds, "--add tree", |d| client.store(d, &["--add", tree]));
    let (pf, pt) = (pf.trim().to_string(), pt.trim().to_string());
    assert!(
        pf.starts_with("/nix/store/") && pf.ends_with("-hello.txt"),
        "{pf}"
    );
    for d in &ds {
        assert!(
            dump(&d.real(&pt)) == dump(Path::new(tree)),
            "{:?}",
            d.server
        );
    }
    same(&ds, "--add both again", |d| {
        client.store(d, &["--add", file, tree])
    });
    same(&ds, "--add-fixed sha256", |d| {
        client.store(d, &["--add-fixed", "sha256", file])
    });

    // Queries on sources.
    for q in [
        &["-q", "--references", &pf][..],
        &["-qR", &pt],
        &["-q", "--hash", &pt],
        &["-q", "--hash", &pf],
        &["-q", "--size", &pt],
        &["-q", "--deriver", &pf],
        &["-q", "--referrers", &pf],
        &["--check-validity", &pf, &pt],
        &[
            "-q",
            "--hash",
            "/nix/store/00000000000000000000000000000000-missing",
        ],
    ] {
        same(&ds, &q.join(" "), |d| client.store(d, q));
    }

    // Instantiating and building a graph.
    let drvs = same(&ds, "nix-instantiate", |d| {
        client.instantiate(d, &[graph, "-A", "a", "-A", "b", "-A", "c"])
    });
    let drvs = lines(&drvs);
    assert_eq!(drvs.len(), 3, "{drvs:?}");
    for q in [
        &["-q", "--references", &drvs[2]][..],
        &["-qR", &drvs[2]],
        &["-q", "--outputs", &drvs[1]],
        &["-q", "--hash", &drvs[0]],
    ] {
        same(&ds, &q.join(" "), |d| client.store(d, q));
    }
    let out_c = same(&ds, "nix-build -o", |d| {
        let link = d.dir.join("result");
        client.build(d, &[graph, "-A", "c", "-o", link.to_str().unwrap()])
    });
    let out_c = out_c.trim().to_string();
    assert!(out_c.ends_with("-c"), "{out_c}");
    for d in &ds {
        let link = std::fs::read_link(d.dir.join("result")).unwrap();
        assert_eq!(link, Path::new(&out_c));
        let text = std::fs::read_to_string(d.real(&out_c)).unwrap();
        assert!(
            text.contains("-a /nix/store/") && text.ends_with("-b\n"),
            "{text}"
        );
    }
    let closure = same(&ds, "-qR output", |d| client.store(d, &["-qR", &out_c]));
    let closure = lines(&closure);
    assert_eq!(closure.len(), 3, "{closure:?}");
    for p in &closure {
        for q in [
            &["-q", "--deriver", p][..],
            &["-q", "--references", p],
            &["-q", "--hash", p],
        ] {
            same(&ds, &q.join(" "), |d| client.store(d, q));
        }
        assert!(dump(&ds[0].real(p)) == dump(&ds[1].real(p)), "{p}");
    }
    // Building again builds nothing.
    same(&ds, "nix-build again", |d| {
        client.build(d, &[graph, "-A", "c", "--no-out-link"])
    });
    // A build log reaches the client.
    let log = same(&ds, "nix-store -l", |d| client.store(d, &["-l", &out_c]));
    assert_eq!(log, "building c\n");

    // Roots: the link of `nix-build -o` and one of `nix-store -r --add-root --indirect`.
    same(&ds, "-r --add-root --indirect", |d| {
        let link = d.dir.join("root-a");
        client.store(
            d,
            &[
                "-r",
                &closure[0],
                "--add-root",
                link.to_str().unwrap(),
                "--indirect",
            ],
        )
    });
    for d in &ds {
        let o = client.store(d, &["--gc", "--print-roots"]);
        let roots = o.ok();
        let ours: BTreeSet<String> = roots
            .lines()
            .filter(|l| l.starts_with(&d.dir.display().to_string()))
            .map(|l| d.norm(l))
            .collect();
        let want: BTreeSet<String> = [
            format!("$DIR/result -> {out_c}"),
            format!("$DIR/root-a -> {}", closure[0]),
        ]
        .into();
        assert_eq!(ours, want, "{:?}: {roots}", d.server);
    }

    // Carrying a closure from one daemon to the other: export from one, import into the
    // other, in both directions. The export bytes of the same paths are the same.
    let only = [
        ("only-ferrix", &ds[0], &ds[1]),
        ("only-nix", &ds[1], &ds[0]),
    ];
    for (attr, from, to) in only {
        let out = client
            .build(from, &[graph, "-A", attr, "--no-out-link"])
            .ok();
        let out = out.trim();
        let paths = lines(&client.store(from, &["-qR", out]).ok());
        assert_eq!(paths.len(), 3, "{paths:?}");
        let mut args = vec!["--export"];
        args.extend(paths.iter().map(String::as_str));
        let export = client.store(from, &args);
        assert_eq!(export.code, 0, "{}", export.stderr);
        let other = client.store(to, &args);
        assert_eq!(other.code, 1, "{out} is not on {:?}", to.server);
        let imported = client.run_in(to, Tool::Store, &["--import"], Some(&export.stdout));
        assert_eq!(imported.ok(), paths.join("\n") + "\n", "{attr}");
        for q in [
            &["-q", "--references", out][..],
            &["-q", "--deriver", out],
            &["-q", "--hash", out],
        ] {
            same(&ds, &format!("{attr}: {}", q.join(" ")), |d| {
                client.store(d, q)
            });
        }
        same(&ds, &format!("{attr}: export"), |d| client.store(d, &args));
    }

    // A failing build: the same message (with the end of the log, which Nix's daemon
    // always sends) and exit status.
    let failing = drv_expr("fails", "echo about to fail; exit 3");
    same(&ds, "failing nix-build", |d| {
        client.build(d, &["--no-out-link", "-E", &failing])
    });
    // Realising a derivation, the roots of a path, and deleting paths. (`--gc` itself is
    // being written in Ferrix; compare `--gc --print-dead` once it is there.)
    same(&ds, "-r drv", |d| client.store(d, &["-r", &drvs[0]]));
    same(&ds, "-q --roots", |d| {
        client.store(d, &["-q", "--roots", &out_c])
    });
    same(&ds, "--delete a live path", |d| {
        client.store(d, &["--delete", &out_c])
    });
    same(&ds, "--delete a dead path", |d| {
        client.store(d, &["--delete", &pf])
    });
    same(&ds, "--check-validity of the deleted path", |d| {
        client.store(d, &["--check-validity", &pf])
    });

    // Verifying: a clean store, then one whose file was changed behind the store's back.
    let pm = same(&ds, "--add tamper", |d| client.store(d, &["--add", tamper]));
    let pm = pm.trim().to_string();
    same(&ds, "--verify", |d| client.store(d, &["--verify"]));
    same(&ds, "--verify --check-contents", |d| {
        client.store(d, &["--verify", "--check-contents"])
    });
    for d in &ds {
        let real = d.real(&pm);
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::write(&real, "tampered\n").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o444)).unwrap();
    }
    same(&ds, "--verify --check-contents after tampering", |d| {
        client.store(d, &["--verify", "--check-contents"])
    });
    let o = ds
        .each_ref()
        .map(|d| client.store(d, &["--verify", "--check-contents"]));
    for (d, o) in ds.iter().zip(&o) {
        assert_ne!(o.code, 0, "{:?}: {}", d.server, o.stderr);
        assert!(
            o.stderr
                .contains(&format!("path '{pm}' was modified! expected hash")),
            "{:?}: {}",
            d.server,
            o.stderr
        );
    }
}

// ---------------------------------------------------------------------------------------
// 2. What an unprivileged client may do

#[test]
fn allowed_and_trusted_users_keep_an_unprivileged_client_where_nix_does() {
    if !have_tools() {
        return;
    }
    let root = Client::root();
    let nobody = Client::nobody();
    let (_tmp, inputs) = open_tempdir();
    let file = inputs.join("mine.txt");
    std::fs::write(&file, "nobody's file\n").unwrap();
    let file = file.to_str().unwrap();

    // `allowed-users = root`: nobody is turned away before the protocol starts, root is not.
    let ds = SERVERS.map(|s| Daemon::start(s, "allowed-users = root\n"));
    for d in &ds {
        let o = nobody.store(d, &["--add", file]);
        assert_eq!(o.code, 1, "{:?}: {}", d.server, o.stderr);
        // The rest is how the client noticed: a reset or a broken pipe, as it happens.
        let prefix = format!(
            "error: cannot open connection to remote store 'unix://{}': error: ",
            d.socket().display()
        );
        assert!(
            o.stderr.starts_with(&prefix),
            "{:?}: {}",
            d.server,
            o.stderr
        );
        // Nix's connection process may report after the client has seen the hang-up.
        let log = d.log_containing(
            "error processing connection: user 'nobody' is not allowed to connect to the Nix daemon",
        );
        assert!(
            log.contains(
                "error processing connection: user 'nobody' is not allowed to connect to the Nix daemon"
            ),
            "{:?}: {log}",
            d.server
        );
        root.store(d, &["--add", file]).ok();
    }
    drop(ds);

    // `allowed-users = *`, `trusted-users = root`: nobody may add and build, but not import
    // unsigned paths, repair, or pass restricted settings.
    let ds = SERVERS.map(|s| Daemon::start(s, "allowed-users = *\ntrusted-users = root\n"));
    same(&ds, "nobody: --add", |d| nobody.store(d, &["--add", file]));
    let expr = drv_expr("nobody-builds", "echo built by nobody > $out");
    let out = same(&ds, "nobody: nix-build", |d| {
        nobody.build(d, &["--no-out-link", "-E", &expr])
    });
    assert!(out.trim().ends_with("-nobody-builds"), "{out}");

    // An unsigned export, made by root on another store.
    let (_tmp2, other) = open_tempdir();
    std::fs::write(other.join("stray.txt"), "unsigned\n").unwrap();
    let export = {
        let side = Daemon::start(Server::Ferrix, "");
        let p = root
            .store(&side, &["--add", other.join("stray.txt").to_str().unwrap()])
            .ok();
        let o = root.store(&side, &["--export", p.trim()]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        o.stdout
    };
    same(&ds, "nobody: --import unsigned", |d| {
        nobody.run_in(d, Tool::Store, &["--import"], Some(&export))
    });
    for d in &ds {
        let o = nobody.run_in(d, Tool::Store, &["--import"], Some(&export));
        assert_ne!(o.code, 0);
        assert!(
            o.stderr.contains("because it lacks a valid signature"),
            "{:?}: {}",
            d.server,
            o.stderr
        );
    }
    same(&ds, "nobody: --verify --repair", |d| {
        nobody.store(d, &["--verify", "--repair"])
    });
    for d in &ds {
        let o = nobody.store(d, &["--verify", "--repair"]);
        assert_ne!(o.code, 0);
        assert!(
            o.stderr
                .contains("error: you are not privileged to repair paths"),
            "{:?}: {}",
            d.server,
            o.stderr
        );
    }

    // `post-build-hook` from an untrusted client is dropped; from root it runs.
    for d in &ds {
        let marker = d.dir.join("hook-ran");
        let hook = d.dir.join("hook.sh");
        std::fs::write(
            &hook,
            format!("#!/bin/sh\necho \"$OUT_PATHS\" >> {}\n", marker.display()),
        )
        .unwrap();
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
        let hook = hook.to_str().unwrap();
        let expr = drv_expr("hook-nobody", "echo x > $out");
        nobody
            .build(
                d,
                &[
                    "--no-out-link",
                    "--option",
                    "post-build-hook",
                    hook,
                    "-E",
                    &expr,
                ],
            )
            .ok();
        assert!(
            !marker.exists(),
            "{:?}: an untrusted client's post-build-hook ran",
            d.server
        );
        let expr = drv_expr("hook-root", "echo x > $out");
        root.build(
            d,
            &[
                "--no-out-link",
                "--option",
                "post-build-hook",
                hook,
                "-E",
                &expr,
            ],
        )
        .ok();
        assert!(
            marker.exists(),
            "{:?}: a trusted client's post-build-hook did not run",
            d.server
        );
    }
}

// ---------------------------------------------------------------------------------------
// 3. A client that hangs up takes its build with it

/// A client process, killed if the test fails while it runs.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The processes whose environment holds `var` (as `NAME=value`).
fn processes_with_env(var: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(env) = std::fs::read(e.path().join("environ")) {
            if env.split(|&b| b == 0).any(|v| v == var.as_bytes()) {
                found.push(pid);
            }
        }
    }
    found
}

#[test]
fn a_client_hanging_up_kills_its_build() {
    if !have_tools() {
        return;
    }
    let client = Client::root();
    let (_tmp, inputs) = open_tempdir();
    let file = inputs.join("after.txt");
    std::fs::write(&file, "after the hang-up\n").unwrap();
    for server in SERVERS {
        let d = Daemon::start(server, "");
        // The builder runs in the sandbox (its own pid namespace), so it is found by a
        // variable of its environment rather than by the pid it sees.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        let nonce = format!("{}-{server:?}-{}", std::process::id(), now.as_nanos());
        let var = format!("FERRIX_HANGUP_TEST={nonce}");
        let expr = format!(
            r#"derivation {{ name = "hang"; system = builtins.currentSystem; builder = "/bin/sh";
                FERRIX_HANGUP_TEST = "{nonce}"; args = [ "-c" "sleep 60; echo > $out" ]; }}"#
        );
        let mut c = client.command(&d, Tool::Build, &["--no-out-link", "-E", &expr]);
        let mut child = KillOnDrop(
            c.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        let builders = loop {
            let found = processes_with_env(&var);
            // The shell, and the `sleep` it started.
            if found.len() >= 2 {
                break found;
            }
            assert!(
                Instant::now() < deadline,
                "{server:?}: the builder did not start: {}",
                d.log()
            );
            assert!(
                child.0.try_wait().unwrap().is_none(),
                "{server:?}: the client ended"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        child.0.kill().unwrap();
        child.0.wait().unwrap();
        let killed = Instant::now();
        while !processes_with_env(&var).is_empty() {
            assert!(
                killed.elapsed() < Duration::from_secs(2),
                "{server:?}: the builder ({builders:?}) outlived its client by 2 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        eprintln!(
            "{server:?}: builder gone {:?} after the client",
            killed.elapsed()
        );
        // The daemon goes on serving.
        let o = client.store(&d, &["--add", file.to_str().unwrap()]);
        assert!(o.ok().starts_with("/nix/store/"));
    }
}

// ---------------------------------------------------------------------------------------
// 4. A hundred clients at once

#[test]
fn a_hundred_concurrent_clients_leave_a_store_nix_verifies() {
    if !have_tools() {
        return;
    }
    const N: usize = 100;
    let mut d = Daemon::start(Server::Ferrix, "");
    let (_tmp, inputs) = open_tempdir();
    let client = Client::root();
    let results: Vec<(String, String, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let (d, client, inputs) = (&d, &client, &inputs);
                s.spawn(move || {
                    let file = inputs.join(format!("load-{i}.txt"));
                    std::fs::write(&file, format!("client {i}\n")).unwrap();
                    let run = |o: Out, what: &str| -> String {
                        assert_eq!(
                            o.code,
                            0,
                            "client {i}: {what}: {}\nthe daemon: {}",
                            o.stderr,
                            d.state()
                        );
                        o.stdout()
                    };
                    let p = run(client.store(d, &["--add", file.to_str().unwrap()]), "--add");
                    let p = p.trim().to_string();
                    let hash = run(client.store(d, &["-q", "--hash", &p]), "-q --hash");
                    let closure = run(client.store(d, &["-qR", &p]), "-qR");
                    assert_eq!(closure, format!("{p}\n"), "client {i}");
                    // Half build a derivation of their own, half the same one.
                    let expr = if i % 2 == 0 {
                        drv_expr(&format!("load-{i}"), &format!("echo {i} > $out"))
                    } else {
                        drv_expr("load-shared", "echo shared > $out")
                    };
                    let out = run(client.build(d, &["--no-out-link", "-E", &expr]), "build");
                    (p, hash, out.trim().to_string())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let shared: BTreeSet<&str> = results
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, r)| r.2.as_str())
        .collect();
    assert_eq!(shared.len(), 1, "{shared:?}");
    let outs: BTreeSet<&str> = results.iter().map(|r| r.2.as_str()).collect();
    assert_eq!(outs.len(), N / 2 + 1);
    for (_, hash, _) in &results {
        assert!(hash.starts_with("sha256:"), "{hash}");
    }
    d.stop();
    // Every connection was served, and none failed but the one `Daemon::start` made to
    // see that the daemon listens (it hangs up before the greeting).
    let log = d.log();
    assert_eq!(
        log.matches("accepted connection from pid").count(),
        4 * N + 1,
        "{log}"
    );
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors, ["error: unexpected end-of-file"], "{log}");
    assert!(!log.contains("database is locked"), "{log}");

    // Nix 2.8 reads the store directly and finds every path, whole.
    let nix = |args: &[&str]| {
        let mut c = Command::new("nix-store");
        for v in STORE_VARS {
            c.env_remove(v);
        }
        c.arg("--store")
            .arg(d.root())
            .args(args)
            .env("NIX_CONF_DIR", d.dir.join("etc"))
            .env("NIX_USER_CONF_FILES", "")
            .env("HOME", &client.home)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let o = nix(&["--verify", "--check-contents"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    for l in err.lines() {
        assert!(
            [
                "reading the Nix store...",
                "checking path existence...",
                "checking link hashes...",
                "checking store hashes..."
            ]
            .contains(&l),
            "nix-store --verify: {err}"
        );
    }
    let mut args = vec!["--check-validity"];
    args.extend(results.iter().flat_map(|r| [r.0.as_str(), r.2.as_str()]));
    let o = nix(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut args = vec!["-q", "--hash"];
    args.extend(results.iter().map(|r| r.0.as_str()));
    let o = nix(&args);
    let hashes: String = results.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(String::from_utf8_lossy(&o.stdout), hashes);
}

// ---------------------------------------------------------------------------------------
// Content-addressed derivations (`ca-derivations`)

/// Nix 2.8's `nix-build` of a floating content-addressed derivation (whose output refers
/// to itself) through either daemon: the same output path and NAR hash, and the daemon
/// answers Nix's `realisation info` with the same realisation.
#[test]
fn floating_ca_derivations_build_through_either_daemon() {
    if !have_tools() {
        return;
    }
    let conf = "experimental-features = ca-derivations\n";
    let ds = [
        Daemon::start(Server::Ferrix, conf),
        Daemon::start(Server::Nix, conf),
    ];
    let client = Client::root();
    let (_tmp, inputs) = open_tempdir();
    let file = inputs.join("ca.nix");
    std::fs::write(
        &file,
        r#"derivation { name = "ca"; system = builtins.currentSystem; builder = "/bin/sh";
                       __contentAddressed = true; outputHashMode = "recursive";
                       outputHashAlgo = "sha256";
                       args = [ "-c" "mkdir $out; echo $out > $out/self; echo hi > $out/f" ]; }"#,
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let out = same(&ds, "nix-build of a floating CA derivation", |d| {
        client.build(d, &["--no-out-link", file])
    });
    assert!(out.trim().ends_with("-ca"), "{out}");
    let out = out.trim().to_string();
    for d in &ds {
        let self_ref = std::fs::read_to_string(d.real(&out).join("self")).unwrap();
        assert_eq!(self_ref.trim(), out);
    }
    same(&ds, "-q --hash of the output", |d| {
        client.store(d, &["-q", "--hash", &out])
    });
    same(&ds, "-q --references of the output", |d| {
        client.store(d, &["-q", "--references", &out])
    });
    let info = same(&ds, "nix realisation info", |d| {
        let mut n = Command::new("nix");
        for v in STORE_VARS {
            n.env_remove(v);
        }
        n.env("NIX_CONF_DIR", d.dir.join("etc"))
            .env("NIX_USER_CONF_FILES", "")
            .env("NIX_STATE_DIR", client.home.join("state"))
            .env("HOME", &client.home)
            .env("TMPDIR", &client.home);
        let o = n
            .args(["realisation", "info", "--json", "--store", &d.uri()])
            .args([
                "--extra-experimental-features",
                "nix-command ca-derivations",
            ])
            .args(["-f", file])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: o.stdout,
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    });
    assert!(
        info.contains(out.trim_start_matches("/nix/store/")),
        "{info}"
    );
}
