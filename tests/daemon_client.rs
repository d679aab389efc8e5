//! Ferrix as a daemon client: `ferrix store`, `ferrix instantiate` and `ferrix build` with
//! `--store unix://…` against Nix 2.8's daemon and against Ferrix's, compared with what Nix
//! 2.8's own client prints against the same daemon. Also the daemon's answer to running out
//! of memory. Every daemon serves a chroot store in a temporary directory with its own
//! `NIX_STATE_DIR` and `NIX_CONF_DIR`; nothing touches the machine's `/nix`.
//!
//! The tests skip (with a note) when Nix 2.8 or busybox is not installed.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ferrix");

fn have_tools() -> bool {
    let nix = Command::new("nix-daemon")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let bb = Path::new("/bin/busybox").exists();
    if !nix || !bb {
        eprintln!("note: Nix 2.8 or /bin/busybox is missing; skipping");
    }
    nix && bb
}

/// A daemon on a temporary chroot store, killed on drop.
struct Daemon {
    dir: tempfile::TempDir,
    child: Child,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Ferrix,
    Nix,
}

impl Daemon {
    fn start(kind: Kind, extra_conf: &str) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("conf");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::write(
            conf.join("nix.conf"),
            format!(
                "sandbox = true\nsandbox-paths = /bin/sh=/bin/busybox\nsubstituters =\nbuild-users-group =\n{extra_conf}"
            ),
        )
        .unwrap();
        let root = dir.path().join("root");
        let mut c = match kind {
            Kind::Ferrix => {
                let mut c = Command::new(BIN);
                c.arg("daemon");
                c
            }
            Kind::Nix => Command::new("nix-daemon"),
        };
        c.args(["--store", root.to_str().unwrap()])
            .env("NIX_CONF_DIR", &conf)
            .env("NIX_STATE_DIR", dir.path().join("state"))
            .env_remove("NIX_REMOTE")
            .env_remove("NIX_DAEMON_SOCKET_PATH")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = c.spawn().expect("start the daemon");
        let d = Daemon { dir, child };
        let t = Instant::now();
        while !d.socket().exists() {
            assert!(t.elapsed() < Duration::from_secs(10), "no daemon socket");
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("state/daemon-socket/socket")
    }

    fn uri(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    fn real_store(&self) -> PathBuf {
        self.dir.path().join("root/nix/store")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client command of `who` (Ferrix or Nix 2.8) against `d`, in `cwd`.
fn client(who: Kind, program: &str, d: &Daemon, cwd: &Path, args: &[&str]) -> Output {
    let mut c = match who {
        Kind::Ferrix => {
            let mut c = Command::new(BIN);
            c.arg(program);
            c
        }
        Kind::Nix => Command::new(format!("nix-{program}")),
    };
    let home = cwd.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let conf = cwd.join("clientconf");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(conf.join("nix.conf"), "substituters =\n").unwrap();
    c.args(args)
        .current_dir(cwd)
        .env("NIX_REMOTE", d.uri())
        .env("NIX_CONF_DIR", &conf)
        .env("HOME", &home)
        .env("NIX_STATE_DIR", cwd.join("client-state"))
        .env("NIX_LOG_DIR", cwd.join("client-log"))
        .env_remove("NIX_STORE_DIR")
        .env_remove("NIX_DAEMON_SOCKET_PATH")
        .stdin(Stdio::null())
        .output()
        .expect("run the client")
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[track_caller]
fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "failed ({:?}): {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    out(&o)
}

const GRAPH: &str = r#"
let
  dep = derivation {
    name = "dep"; system = builtins.currentSystem; builder = "/bin/sh";
    args = [ "-c" "echo dep > $out" ];
  };
in derivation {
  name = "top"; system = builtins.currentSystem; builder = "/bin/sh";
  args = [ "-c" "echo building top; cat ${dep} > $out; echo top >> $out" ];
}
"#;

/// Runs the scenario of the daemon issue with client `who` against `d`; returns the
/// transcript (what each step printed), which must not depend on the client.
fn scenario(who: Kind, d: &Daemon, work: &Path) -> Vec<String> {
    let mut log = Vec::new();
    std::fs::write(work.join("file"), "hello\n").unwrap();
    std::fs::create_dir_all(work.join("tree/sub")).unwrap();
    std::fs::write(work.join("tree/sub/a"), "a\n").unwrap();
    std::fs::write(work.join("tree/x"), "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(work.join("tree/x"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("x", work.join("tree/l")).unwrap();
    std::fs::write(work.join("graph.nix"), GRAPH).unwrap();

    let file = ok(client(who, "store", d, work, &["--add", "file"]));
    let tree = ok(client(who, "store", d, work, &["--add", "tree"]));
    log.push(format!("add: {file}{tree}"));
    let file = file.trim();
    let drv = ok(client(who, "instantiate", d, work, &["graph.nix"]));
    log.push(format!("instantiate: {drv}"));
    let drv = drv.trim();
    for q in [
        &["-q", "--references", drv][..],
        &["-qR", drv],
        &["-q", "--hash", file],
        &["-q", "--deriver", file],
        &["-q", "--size", tree.trim()],
    ] {
        log.push(format!("{q:?}: {}", ok(client(who, "store", d, work, q))));
    }
    let built = ok(client(
        who,
        "build",
        d,
        work,
        &["graph.nix", "-o", "result"],
    ));
    log.push(format!("build: {built}"));
    log.push(format!(
        "contents: {}",
        std::fs::read_to_string(
            d.real_store()
                .join(built.trim().trim_start_matches("/nix/store/"))
        )
        .unwrap()
    ));
    log.push(format!(
        "deriver of the output: {}",
        ok(client(
            who,
            "store",
            d,
            work,
            &["-q", "--deriver", built.trim()]
        ))
    ));
    // The result link is an indirect root.
    let roots = ok(client(
        who,
        "store",
        d,
        work,
        &["-q", "--roots", built.trim()],
    ));
    let link = work.join("result");
    let line = roots
        .lines()
        .find(|l| l.starts_with(&format!("{} -> ", link.display())))
        .unwrap_or_default()
        .to_string();
    log.push(format!(
        "root: {}",
        line.replace(&work.display().to_string(), "WORK")
    ));
    // Export the closure, import it into a fresh daemon's store below (by the caller).
    let v = client(who, "store", d, work, &["--verify", "--check-contents"]);
    log.push(format!("verify: {:?}", v.status.code()));
    log
}

#[test]
fn ferrix_client_matches_nix_client_against_both_daemons() {
    if !have_tools() {
        return;
    }
    for daemon in [Kind::Nix, Kind::Ferrix] {
        let mut transcripts = Vec::new();
        for who in [Kind::Nix, Kind::Ferrix] {
            let d = Daemon::start(daemon, "");
            let work = tempfile::tempdir().unwrap();
            transcripts.push(scenario(who, &d, work.path()));
        }
        assert_eq!(
            transcripts[0], transcripts[1],
            "Nix 2.8's client and Ferrix's differ against the {daemon:?} daemon"
        );
        // Something real happened.
        assert!(transcripts[1]
            .iter()
            .any(|l| l.starts_with("contents: dep\ntop")));
        assert!(transcripts[1]
            .iter()
            .any(|l| l.starts_with("root: WORK/result -> /nix/store/")));
        assert!(transcripts[1].iter().any(|l| l == "verify: Some(0)"));
    }
}

#[test]
fn tampering_export_and_import_through_each_daemon() {
    if !have_tools() {
        return;
    }
    for daemon in [Kind::Nix, Kind::Ferrix] {
        let d = Daemon::start(daemon, "");
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        std::fs::write(w.join("file"), "to be changed\n").unwrap();
        let p = ok(client(Kind::Ferrix, "store", &d, w, &["--add", "file"]));
        let p = p.trim().to_string();
        // Export through the daemon, import into another daemon's store.
        let exp = client(Kind::Ferrix, "store", &d, w, &["--export", &p]);
        assert!(exp.status.success());
        let other = Daemon::start(daemon, "");
        let mut c = Command::new(BIN)
            .args(["store", "--import"])
            .env("NIX_REMOTE", other.uri())
            .env("NIX_CONF_DIR", w.join("clientconf"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(&exp.stdout).unwrap();
        let o = c.wait_with_output().unwrap();
        assert_eq!(ok(o).trim(), p, "{daemon:?}");
        assert!(ok(client(
            Kind::Ferrix,
            "store",
            &other,
            w,
            &["--check-validity", &p]
        ))
        .is_empty());

        // A changed file: both clients see the same complaint and status.
        let real = d.real_store().join(p.trim_start_matches("/nix/store/"));
        let mut perm = std::fs::metadata(&real).unwrap().permissions();
        perm.set_mode(0o644);
        std::fs::set_permissions(&real, perm).unwrap();
        std::fs::write(&real, "changed\n").unwrap();
        let ours = client(
            Kind::Ferrix,
            "store",
            &d,
            w,
            &["--verify", "--check-contents"],
        );
        let theirs = client(Kind::Nix, "store", &d, w, &["--verify", "--check-contents"]);
        assert_eq!(ours.status.code(), theirs.status.code(), "{daemon:?}");
        assert_ne!(ours.status.code(), Some(0));
        let msg = |o: &Output| {
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .filter(|l| l.contains(&p))
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(msg(&ours), msg(&theirs), "{daemon:?}");
        assert!(!msg(&ours).is_empty());
    }
}

#[test]
fn client_errors_are_nix_errors() {
    if !have_tools() {
        return;
    }
    let d = Daemon::start(Kind::Nix, "");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let missing = "/nix/store/00000000000000000000000000000000-nothing";
    let ours = client(Kind::Ferrix, "store", &d, w, &["-q", "--hash", missing]);
    let theirs = client(Kind::Nix, "store", &d, w, &["-q", "--hash", missing]);
    assert_eq!(ours.status.code(), theirs.status.code());
    assert_eq!(
        String::from_utf8_lossy(&ours.stderr),
        String::from_utf8_lossy(&theirs.stderr)
    );
    // No daemon at all.
    let gone = w.join("nowhere");
    let o = Command::new(BIN)
        .args(["store", "--add", "/etc/hostname"])
        .env("NIX_REMOTE", format!("unix://{}", gone.display()))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains(&format!("cannot connect to socket at '{}'", gone.display())),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Writes the client's greeting for protocol 1.34 and reads the daemon's answer up to the
/// end of its start-up log.
fn greet(s: &mut std::os::unix::net::UnixStream) -> ferrix_wire::Version {
    let mut w = s.try_clone().unwrap();
    let info =
        ferrix_wire::client_handshake(&mut *s, &mut w, ferrix_wire::Version::CURRENT).unwrap();
    match ferrix_wire::StderrMsg::read(s, info.version).unwrap() {
        ferrix_wire::StderrMsg::Last => {}
        m => panic!("unexpected start-up message {m:?}"),
    }
    info.version
}

#[test]
fn out_of_memory_is_reported_to_the_client() {
    if !have_tools() {
        return;
    }
    // A daemon that may use 1 GiB of address space, and a client that sends a 3 GiB text.
    let d = {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("conf")).unwrap();
        std::fs::write(dir.path().join("conf/nix.conf"), "substituters =\n").unwrap();
        let mut c = Command::new("prlimit");
        c.args(["--as=1073741824", "--", BIN, "daemon", "--store"])
            .arg(dir.path().join("root"))
            .env("NIX_CONF_DIR", dir.path().join("conf"))
            .env("NIX_STATE_DIR", dir.path().join("state"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let Ok(child) = c.spawn() else {
            eprintln!("note: prlimit is missing; skipping");
            return;
        };
        let d = Daemon { dir, child };
        let t = Instant::now();
        while !d.socket().exists() {
            assert!(t.elapsed() < Duration::from_secs(10), "no daemon socket");
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    };
    let mut s = std::os::unix::net::UnixStream::connect(d.socket()).unwrap();
    let ver = greet(&mut s);
    let mut w = s.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        use ferrix_wire::codec::{write_string, write_u64};
        let len: u64 = 3 << 30;
        let _ = write_u64(&mut w, 8); // AddTextToStore
        let _ = write_string(&mut w, "big");
        let _ = write_u64(&mut w, len);
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..(len >> 20) {
            if w.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let _ = sender.join();
    let msg = ferrix_wire::StderrMsg::read(&mut &buf[..], ver).unwrap();
    match msg {
        ferrix_wire::StderrMsg::Error(e) => {
            assert_eq!(
                String::from_utf8_lossy(&e.message),
                "Nix daemon out of memory"
            )
        }
        m => panic!("expected the out-of-memory error, got {m:?}"),
    }
    // The daemon goes on serving others.
    let mut s2 = std::os::unix::net::UnixStream::connect(d.socket()).unwrap();
    greet(&mut s2);
}

#[test]
fn nix_client_shows_the_same_build_log_from_both_daemons() {
    if !have_tools() {
        return;
    }
    let mut logs = Vec::new();
    for daemon in [Kind::Nix, Kind::Ferrix] {
        let d = Daemon::start(daemon, "");
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        std::fs::write(w.join("graph.nix"), GRAPH).unwrap();
        let build = client(Kind::Nix, "build", &d, w, &["graph.nix", "--no-out-link"]);
        let check = client(
            Kind::Nix,
            "build",
            &d,
            w,
            &["--check", "graph.nix", "--no-out-link"],
        );
        let quiet = client(
            Kind::Nix,
            "build",
            &d,
            w,
            &["--check", "-Q", "graph.nix", "--no-out-link"],
        );
        let text = |o: &Output| {
            format!(
                "{:?}\n{}{}",
                o.status.code(),
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        };
        logs.push([text(&build), text(&check), text(&quiet)]);
    }
    assert_eq!(logs[0], logs[1]);
    assert!(logs[1][0].contains("building '/nix/store/"));
    assert!(logs[1][0].contains("\nbuilding top\n"));
    assert!(logs[1][1].contains("checking outputs of '/nix/store/"));
    assert!(!logs[1][2].contains("building top"));
}

#[test]
fn a_quiet_client_still_sees_other_builds_errors() {
    if !have_tools() {
        return;
    }
    const FAILING: &str = r#"
let
  dep = derivation {
    name = "dep"; system = builtins.currentSystem; builder = "/bin/sh";
    args = [ "-c" "echo dep says no; exit 3" ];
  };
in derivation {
  name = "top"; system = builtins.currentSystem; builder = "/bin/sh";
  args = [ "-c" "cat ${dep} > $out" ];
}
"#;
    let mut logs = Vec::new();
    for daemon in [Kind::Nix, Kind::Ferrix] {
        let d = Daemon::start(daemon, "");
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        std::fs::write(w.join("failing.nix"), FAILING).unwrap();
        let o = client(
            Kind::Nix,
            "build",
            &d,
            w,
            &["--quiet", "failing.nix", "--no-out-link"],
        );
        logs.push((
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        ));
    }
    assert_eq!(logs[0], logs[1]);
    let (code, err) = &logs[1];
    assert_ne!(*code, Some(0));
    // The dependency's failure (an error) shows; the `building …` lines (info) do not.
    assert!(err.contains("error: builder for '/nix/store/"), "{err}");
    assert!(err.contains("dep says no"), "{err}");
    assert!(!err.contains("building '"), "{err}");
}
