//! `ferrix build` (nix-build): sandboxed local builds in temporary chroot stores, compared
//! with Nix 2.8's `nix-build` when it is installed. The sandbox's `/bin/sh` is Debian's
//! static busybox (`busybox-static`), as CI installs it.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ferrix");
const SANDBOX: [&str; 6] = [
    "--option",
    "sandbox",
    "true",
    "--option",
    "sandbox-paths",
    "/bin/sh=/bin/busybox",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// The global state directory (`NIX_STATE_DIR`: the build-user pool) of every command
/// here: one for all, so that concurrent builds of Nix and Ferrix never share a build user,
/// and not the machine's `/nix/var/nix`.
fn global_state() -> &'static Path {
    static STATE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    STATE.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

fn run(program: &str, args: &[&str]) -> Out {
    let home = tempfile::tempdir().unwrap();
    let o = Command::new(program)
        .args(args)
        .current_dir(root())
        .env_remove("NIX_PATH")
        .env_remove("NIX_REMOTE")
        .env("HOME", home.path())
        .env("NIX_STATE_DIR", global_state())
        .output()
        .unwrap();
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// `ferrix build --store STORE` in the sandbox.
fn build(store: &Path, args: &[&str]) -> Out {
    // No substituters, as for Nix below: these builds compare what is built.
    let mut a = vec![
        "build",
        "--store",
        store.to_str().unwrap(),
        "--option",
        "substituters",
        "",
    ];
    a.extend_from_slice(&SANDBOX);
    a.extend_from_slice(args);
    run(BIN, &a)
}

fn ferrix_store(store: &Path, args: &[&str]) -> Out {
    let mut a = vec!["store", "--store", store.to_str().unwrap()];
    a.extend_from_slice(args);
    run(BIN, &a)
}

/// Nix 2.8's nix-build, when installed.
fn nix_build(store: &Path, args: &[&str]) -> Option<Out> {
    let v = Command::new("nix-build").arg("--version").output().ok()?;
    if !String::from_utf8_lossy(&v.stdout).contains(" 2.8.") {
        return None;
    }
    let mut a = vec![
        "--store",
        store.to_str().unwrap(),
        "--option",
        "substituters",
        "",
    ];
    a.extend_from_slice(&SANDBOX);
    a.extend_from_slice(args);
    Some(run("nix-build", &a))
}

/// The sandbox needs busybox as its shell; CI installs it.
fn busybox() -> bool {
    let ok = Path::new("/bin/busybox").exists();
    if !ok {
        eprintln!("skipping: /bin/busybox (busybox-static) is not installed");
    }
    ok
}

/// `path hash refs...` for every path in the closure of `p`, through `ferrix store`.
fn closure_hashes(store: &Path, p: &str) -> Vec<String> {
    let r = ferrix_store(store, &["--query", "--requisites", p]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut lines: Vec<String> = r
        .stdout
        .lines()
        .map(|q| {
            let h = ferrix_store(store, &["--query", "--hash", q]);
            let refs = ferrix_store(store, &["--query", "--references", q]);
            format!(
                "{q} {} {}",
                h.stdout.trim(),
                refs.stdout.split_whitespace().collect::<Vec<_>>().join(" ")
            )
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn graph_builds_like_nix() {
    if !busybox() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let link = tmp.path().join("result");
    let r = build(
        &store,
        &[
            "tests/build/graph.nix",
            "-o",
            link.to_str().unwrap(),
            "--cores",
            "3",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.starts_with("these 5 derivations will be built:\n"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("cores=3\n"), "{}", r.stderr);
    let out = r.stdout.trim().to_string();
    assert!(
        out.starts_with("/nix/store/") && out.ends_with("-top"),
        "{out}"
    );
    // The result link, registered as an indirect GC root.
    assert_eq!(std::fs::read_link(&link).unwrap(), PathBuf::from(&out));
    let roots: Vec<PathBuf> = std::fs::read_dir(store.join("nix/var/nix/gcroots/auto"))
        .unwrap()
        .map(|e| std::fs::read_link(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(roots, vec![link.clone()]);
    let ours = closure_hashes(&store, &out);
    // The fixed-output leaf is only read at build time, so it is not in the closure.
    assert_eq!(ours.len(), 4, "{ours:?}");

    // Valid outputs are not built again.
    let again = build(&store, &["tests/build/graph.nix", "--no-out-link"]);
    assert_eq!((again.code, again.stdout.trim()), (0, out.as_str()));
    assert!(!again.stderr.contains("building"), "{}", again.stderr);

    // The log is kept and `store -l` prints it.
    let drv = ferrix_store(&store, &["--query", "--deriver", &out]);
    let log = ferrix_store(&store, &["-l", drv.stdout.trim()]);
    assert_eq!(
        (log.code, log.stdout.as_str()),
        (0, "cores=3\n"),
        "{}",
        log.stderr
    );

    if let Some(nix) = nix_build(
        &tmp.path().join("nix"),
        &["tests/build/graph.nix", "--no-out-link", "--cores", "3"],
    ) {
        assert_eq!(nix.code, 0, "{}", nix.stderr);
        assert_eq!(nix.stdout.trim(), out);
        // Nix's own tools on Nix's store, and on ours: the same paths and NAR hashes.
        let nix_store = tmp.path().join("nix");
        let q = |s: &Path, args: &[&str]| {
            let mut a = vec!["--store", s.to_str().unwrap()];
            a.extend_from_slice(args);
            run("nix-store", &a)
        };
        let theirs: Vec<String> = {
            let r = q(&nix_store, &["--query", "--requisites", &out]);
            let mut v: Vec<String> = r
                .stdout
                .lines()
                .map(|p| {
                    format!(
                        "{p} {} {}",
                        q(&nix_store, &["--query", "--hash", p]).stdout.trim(),
                        q(&nix_store, &["--query", "--references", p])
                            .stdout
                            .split_whitespace()
                            .collect::<Vec<_>>()
                            .join(" ")
                    )
                })
                .collect();
            v.sort();
            v
        };
        assert_eq!(ours, theirs);
        let verify = q(&store, &["--verify", "--check-contents"]);
        assert_eq!(verify.code, 0, "{}", verify.stderr);
    }
}

/// A minimal HTTP server on the host's loopback that answers every request with `body`
/// and counts connections.
fn serve(body: &'static [u8]) -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            c.fetch_add(1, Ordering::SeqCst);
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(body);
        }
    });
    (port, count)
}

#[test]
fn sandbox_isolates_builders() {
    if !busybox() {
        return;
    }
    const BODY: &[u8] = b"hello from the host\n";
    let (port, count) = serve(BODY);
    let hash = {
        // SHA-256 through our own nix-hash, in base 16.
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), BODY).unwrap();
        let r = run(
            BIN,
            &[
                "hash",
                "--type",
                "sha256",
                "--flat",
                tmp.path().to_str().unwrap(),
            ],
        );
        r.stdout.trim().to_string()
    };
    let port_s = port.to_string();
    let project = root().display().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let args = |attr: &'static str| {
        vec![
            "tests/build/sandbox.nix",
            "-A",
            attr,
            "--no-out-link",
            "--argstr",
            "port",
            port_s.as_str(),
            "--argstr",
            "project",
            project.as_str(),
            "--argstr",
            "hash",
            hash.as_str(),
        ]
    };
    let r = build(&store, &args("isolated"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("host=localhost"), "{}", r.stderr);
    assert_eq!(
        count.load(Ordering::SeqCst),
        0,
        "the builder reached the host"
    );

    // A fixed-output derivation keeps the network, and its hash is checked.
    let r = build(&store, &args("fetched"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let real = store.join(r.stdout.trim().trim_start_matches('/'));
    assert_eq!(std::fs::read(real).unwrap(), BODY);
    assert_eq!(count.load(Ordering::SeqCst), 1);

    let r = build(&store, &args("builtin"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let real = store.join(r.stdout.trim().trim_start_matches('/'));
    assert_eq!(std::fs::read(real).unwrap(), BODY);
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[test]
fn check_finds_nondeterminism() {
    if !busybox() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let f = "tests/build/check.nix";
    let r = build(&store, &[f, "-A", "clock", "--no-out-link"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = r.stdout.trim().to_string();
    let real = store.join(out.trim_start_matches('/'));
    let before = std::fs::read(&real).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let r = build(&store, &[f, "-A", "clock", "--no-out-link", "--check"]);
    assert_eq!(r.code, 104, "{}", r.stderr);
    let drv = ferrix_store(&store, &["--query", "--deriver", &out]);
    assert!(
        r.stderr.ends_with(&format!(
            "error: derivation '{}' may not be deterministic: output '{}' differs\n",
            drv.stdout.trim(),
            real.display()
        )),
        "{}",
        r.stderr
    );
    // The valid output is untouched.
    assert_eq!(std::fs::read(&real).unwrap(), before);

    let r = build(&store, &[f, "-A", "steady", "--no-out-link"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = build(&store, &[f, "-A", "steady", "--no-out-link", "--check"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("checking outputs of '"), "{}", r.stderr);
}

/// The last line of standard error.
fn last_line(s: &str) -> &str {
    s.trim_end().lines().last().unwrap_or("")
}

#[test]
fn limits_stop_builders() {
    if !busybox() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let f = "tests/build/limits.nix";
    let cases: [(&[&str], i32, &str); 3] = [
        (
            &["-A", "hang", "--option", "max-silent-time", "1"],
            101,
            "from .drv file timed out after 1 seconds of silence",
        ),
        (
            &["-A", "hang", "--option", "timeout", "1"],
            101,
            "from .drv file timed out after 1 seconds",
        ),
        (
            &["-A", "noisy", "--option", "max-build-log-size", "1000"],
            1,
            "from .drv file killed after writing more than 1000 bytes of log output",
        ),
    ];
    for (extra, code, msg) in cases {
        let mut a = vec![f, "--no-out-link"];
        a.extend_from_slice(extra);
        let t = Instant::now();
        let r = build(&store, &a);
        assert!(t.elapsed() < Duration::from_secs(20));
        assert_eq!(r.code, code, "{}", r.stderr);
        let line = last_line(&r.stderr);
        assert!(
            line.starts_with("error: building of '/nix/store/") && line.ends_with(msg),
            "{}",
            r.stderr
        );
        if let Some(nix) = nix_build(&tmp.path().join("nix"), &a) {
            assert_eq!((nix.code, last_line(&nix.stderr)), (code, line));
        }
    }
}

#[test]
fn fixed_output_mismatch_registers_what_was_built() {
    if !busybox() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let a = ["tests/build/limits.nix", "-A", "mismatch", "--no-out-link"];
    let r = build(&store, &a);
    assert_eq!(r.code, 102, "{}", r.stderr);
    let tail: Vec<&str> = r.stderr.trim_end().lines().rev().take(3).collect();
    assert_eq!(
        tail[..2],
        [
            "            got:    sha256-VD34n+yFscKA5b57xqM+MSA1A81u2zCEMS3k21qbQ2w=",
            "         specified: sha256-Vcl4ArOX702g2OLs9Kj6M8H0dV2g6s7FTGLKy7z9lxM=",
        ],
        "{}",
        r.stderr
    );
    assert!(tail[2].starts_with("error: hash mismatch in fixed-output derivation '/nix/store/"));
    // As in Nix 2.8, what was built is registered under the hash it has (not at the
    // derivation's output path), so a derivation with the right hash finds it.
    let outputs = |root: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(root.join("nix/store"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.') && !n.ends_with(".drv") && !n.ends_with(".lock"))
            .collect();
        v.sort();
        v
    };
    let names = outputs(&store);
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].ends_with("-mismatch"));
    let p = format!("/nix/store/{}", names[0]);
    let h = ferrix_store(&store, &["--query", "--hash", &p]);
    assert_eq!(
        h.stdout.trim(),
        "sha256:1mdvwpvswkzmamwbxxvylp0j56clyrqk25rccapydahy39qdcp6y"
    );
    if let Some(nix) = nix_build(&tmp.path().join("nix"), &a) {
        assert_eq!(nix.code, 102);
        let theirs: Vec<&str> = nix.stderr.trim_end().lines().rev().take(3).collect();
        assert_eq!(theirs, tail);
        assert_eq!(outputs(&tmp.path().join("nix")), names);
    }
}

/// Whether a process runs `sleep 97` (the `orphan` builder).
fn orphan_running() -> bool {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .any(|e| std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == b"sleep\x0097\x00"))
}

#[test]
fn killed_client_stops_its_builds() {
    if !busybox() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    for signal in ["INT", "KILL"] {
        let mut a = vec!["build", "--store", store.to_str().unwrap()];
        a.extend_from_slice(&SANDBOX);
        a.extend_from_slice(&["--option", "substituters", ""]);
        a.extend_from_slice(&["tests/build/limits.nix", "-A", "orphan", "--no-out-link"]);
        let mut child = Command::new(BIN)
            .args(&a)
            .current_dir(root())
            .env("NIX_STATE_DIR", global_state())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let t = Instant::now();
        while !orphan_running() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "the builder never started"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let k = Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .unwrap();
        assert!(k.success());
        let status = child.wait().unwrap();
        assert!(!status.success());
        let t = Instant::now();
        while orphan_running() {
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "the builder outlived SIG{signal}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // Nothing was registered: only the .drv is valid.
        let dump = ferrix_store(&store, &["--dump-db"]);
        assert!(!dump.stdout.contains("-orphan\n"), "{}", dump.stdout);
    }
}

#[test]
fn import_from_derivation_builds_first() {
    if !busybox() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let s = store.to_str().unwrap();

    // Read-only evaluation writes no derivation, so the one to import is not valid.
    let mut a = vec!["instantiate", "--store", s, "--readonly-mode"];
    a.extend_from_slice(&SANDBOX);
    a.push("tests/build/ifd.nix");
    let r = run(BIN, &a);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stderr.starts_with("error: path '/nix/store/") && r.stderr.contains(".drv' is not valid"),
        "{}",
        r.stderr
    );

    // Refused by the setting, with Nix's message.
    let mut a = vec!["instantiate", "--store", s];
    a.extend_from_slice(&SANDBOX);
    a.extend_from_slice(&[
        "--option",
        "allow-import-from-derivation",
        "false",
        "tests/build/ifd.nix",
    ]);
    let r = run(BIN, &a);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stderr.starts_with("error: cannot build '/nix/store/")
            && r.stderr.contains(
                ".drv' during evaluation because the option 'allow-import-from-derivation' is disabled"
            ),
        "{}",
        r.stderr
    );

    // `bar` and `data` are built during evaluation, then `foo` from what they gave.
    let r = build(&store, &["tests/build/ifd.nix", "--no-out-link"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = r.stdout.trim();
    assert!(out.ends_with("-foo"), "{out}");
    let real = store.join(out.trim_start_matches('/'));
    assert_eq!(std::fs::read_to_string(real).unwrap(), "FOO579-hello\n");
}

/// `--workers`: several `-A` attributes are evaluated in forked processes and built
/// together; the results and messages are those of one process, and an evaluation error
/// in one attribute builds nothing, as in one process.
#[test]
fn workers_evaluate_attributes_apart_and_build_them_together() {
    if !busybox() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("several.nix");
    std::fs::write(
        &file,
        r#"let mk = n: derivation { name = n; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" "echo ${n} > $out" ]; };
           in { a = mk "a"; b = mk "b"; c = [ (mk "c1") (mk "c2") ]; bad = throw "bad attribute"; }"#,
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let with = |workers: &str, attrs: &[&str]| {
        let store = dir.path().join(format!("store-{workers}-{}", attrs.len()));
        let mut a = vec!["--no-out-link", "--workers", workers, f];
        for at in attrs {
            a.extend(["-A", at]);
        }
        let o = build(&store, &a);
        (o.code, o.stdout, o.stderr)
    };
    let one = with("1", &["a", "b", "c"]);
    assert_eq!(one.0, 0, "{}", one.2);
    assert_eq!(one.1.lines().count(), 4, "{}", one.1);
    assert_eq!(with("3", &["a", "b", "c"]).1, one.1);
    let failing_one = with("1", &["a", "bad", "c"]);
    assert_eq!(failing_one.0, 1);
    assert_eq!(with("3", &["a", "bad", "c"]), failing_one);
    assert!(
        failing_one.2.contains("error: bad attribute"),
        "{}",
        failing_one.2
    );
    // Nix 2.8 builds and prints nothing either.
    let nix_store = dir.path().join("store-nix");
    if let Some(n) = nix_build(
        &nix_store,
        &["--no-out-link", f, "-A", "a", "-A", "bad", "-A", "c"],
    ) {
        assert_eq!((n.code, n.stdout), (failing_one.0, failing_one.1.clone()));
    }
    // The processes were used.
    let store = dir.path().join("store-stats");
    let home = tempfile::tempdir().unwrap();
    let mut a = vec!["build", "--store", store.to_str().unwrap()];
    a.extend_from_slice(&SANDBOX);
    a.extend(["--no-out-link", "--workers", "2", f, "-A", "a", "-A", "b"]);
    let o = Command::new(BIN)
        .args(&a)
        .env_remove("NIX_REMOTE")
        .env("HOME", home.path())
        .env("NIX_STATE_DIR", global_state())
        .env("FERRIX_SHOW_STATS", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("evaluation processes: 2\n"));
}
