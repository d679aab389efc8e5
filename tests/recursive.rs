//! Recursive Nix: sandboxed builds on temporary chroot stores whose builders call Ferrix (or
//! Nix 2.8) through the `.nix-socket` of their build directory. Ferrix is made available in
//! the sandbox through `sandbox-paths`, with its closure (the shared libraries it loads), as
//! `/bin/nix-build`, `/bin/nix-store` and `/bin/ferrix`. The sandbox's `/bin/sh` is Debian's
//! static busybox.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_ferrix");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// The global state directory (`NIX_STATE_DIR`: the build-user pool) of every command here.
fn global_state() -> &'static Path {
    static STATE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    STATE.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

fn run(program: &str, args: &[&str], env: &[(&str, &str)]) -> Out {
    let home = tempfile::tempdir().unwrap();
    let mut c = Command::new(program);
    c.args(args)
        .current_dir(root())
        .env_remove("NIX_PATH")
        .env_remove("NIX_REMOTE")
        .env("HOME", home.path())
        .env("NIX_STATE_DIR", global_state());
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// `target=source` for the shared libraries `program` loads (from `ldd`), so that it runs
/// in the sandbox.
fn closure_of(program: &str) -> Vec<String> {
    let o = Command::new("ldd").arg(program).output().unwrap();
    let mut out = Vec::new();
    for word in String::from_utf8_lossy(&o.stdout).split_whitespace() {
        if word.starts_with('/') {
            let real = std::fs::canonicalize(word).unwrap();
            out.push(format!("{word}={}", real.display()));
        }
    }
    assert!(!out.is_empty(), "no libraries found for {program}");
    out
}

/// The `sandbox-paths` that give the builder busybox and Ferrix.
fn sandbox_paths() -> String {
    let mut v = vec![
        "/bin/sh=/bin/busybox".to_string(),
        format!("/bin/ferrix={BIN}"),
        format!("/bin/nix-build={BIN}"),
        format!("/bin/nix-store={BIN}"),
    ];
    v.extend(closure_of(BIN));
    v.join(" ")
}

/// The options of a sandboxed build with recursive Nix (`experimental` off: without the
/// experimental feature).
fn options(extra_paths: &str, experimental: bool) -> Vec<String> {
    let mut o: Vec<String> = [
        "--option",
        "substituters",
        "",
        "--option",
        "sandbox",
        "true",
        "--option",
        "system-features",
        "recursive-nix",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    o.extend(["--option".into(), "sandbox-paths".into()]);
    o.push(
        format!("{} {extra_paths}", sandbox_paths())
            .trim()
            .to_string(),
    );
    if experimental {
        o.extend([
            "--option".into(),
            "experimental-features".into(),
            "recursive-nix".into(),
        ]);
    }
    o
}

fn build(
    program: &str,
    store: &Path,
    file: &str,
    link: &Path,
    opts: &[String],
    env: &[(&str, &str)],
) -> Out {
    let mut a: Vec<&str> = Vec::new();
    if program == BIN {
        a.push("build");
    }
    a.extend([
        "--store",
        store.to_str().unwrap(),
        file,
        "-o",
        link.to_str().unwrap(),
    ]);
    a.extend(opts.iter().map(String::as_str));
    run(program, &a, env)
}

fn ferrix_store(store: &Path, args: &[&str]) -> Out {
    let mut a = vec!["store", "--store", store.to_str().unwrap()];
    a.extend_from_slice(args);
    run(BIN, &a, &[])
}

fn requisites(store: &Path, p: &Path) -> Vec<String> {
    let r = ferrix_store(store, &["-qR", p.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut v: Vec<String> = r.stdout.lines().map(str::to_owned).collect();
    v.sort();
    v
}

/// Nix 2.8's commands, when installed.
fn nix28() -> bool {
    Command::new("nix-store")
        .arg("--version")
        .output()
        .map(|v| String::from_utf8_lossy(&v.stdout).contains(" 2.8."))
        .unwrap_or(false)
}

/// Nix 2.8's `--verify --check-contents` of a chroot store passes.
fn nix_verifies(store: &Path) {
    if !nix28() {
        return;
    }
    let r = run(
        "nix-store",
        &[
            "--store",
            store.to_str().unwrap(),
            "--verify",
            "--check-contents",
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        !r.stderr.contains("error") && !r.stderr.contains("warning"),
        "{}",
        r.stderr
    );
}

/// Where the chroot store `store` keeps the logical path `p` (`/nix/store/…[/…]`).
fn real(store: &Path, p: &Path) -> PathBuf {
    store.join(p.strip_prefix("/").unwrap())
}

/// The logical path the result link `link` points to.
fn target(link: &Path) -> PathBuf {
    std::fs::read_link(link).unwrap()
}

fn busybox() -> bool {
    let ok = Path::new("/bin/busybox").exists();
    if !ok {
        eprintln!("skipping: /bin/busybox (busybox-static) is not installed");
    }
    ok
}

#[test]
fn a_builder_builds_through_ferrix_and_refers_to_what_it_built() {
    if !busybox() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let link = tmp.path().join("result");
    let r = build(
        BIN,
        &store,
        "tests/recursive/seed.nix",
        &link,
        &options("", true),
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The inner program ran in the sandbox, after its output was mounted there.
    assert!(r.stderr.contains("Hello, world!"), "{}", r.stderr);
    assert!(r.stderr.contains("foobar"), "{}", r.stderr);
    // The inner build's log reached the outer build's log through its client.
    assert!(r.stderr.contains("-hello-3.5.drv'..."), "{}", r.stderr);

    let out = target(&link);
    let hello = std::fs::read_link(real(&store, &out.join("bin/hello"))).unwrap();
    let inner = hello.parent().unwrap().parent().unwrap().to_str().unwrap();
    assert!(inner.ends_with("-hello-3.5"), "{inner}");
    let closure = requisites(&store, &link);
    assert!(closure.iter().any(|p| p == inner), "{closure:?}");
    assert!(
        closure.iter().any(|p| p.ends_with("-greeting")),
        "{closure:?}"
    );
    assert!(
        closure.iter().any(|p| p.ends_with("-foobar")),
        "{closure:?}"
    );
    // The outer output refers to what the recursive calls made, and to nothing else.
    let refs = ferrix_store(&store, &["-q", "--references", out.to_str().unwrap()]);
    let mut refs: Vec<&str> = refs.stdout.lines().collect();
    refs.sort();
    assert_eq!(refs.len(), 2, "{refs:?}");
    assert!(refs[0].ends_with("-foobar") || refs[1].ends_with("-foobar"));
    assert!(refs.contains(&inner), "{refs:?}");
    nix_verifies(&store);

    // Nix 2.8 building the same derivation (with Ferrix's client inside, against Nix's
    // recursive daemon) makes the same paths.
    if nix28() {
        let nstore = tmp.path().join("nix-store");
        let nlink = tmp.path().join("nix-result");
        let n = build(
            "nix-build",
            &nstore,
            "tests/recursive/seed.nix",
            &nlink,
            &options("", true),
            &[],
        );
        assert_eq!(n.code, 0, "{}", n.stderr);
        assert_eq!(std::fs::read_link(&nlink).unwrap(), out);
        let ours: Vec<String> = closure;
        let r = run(
            "nix-store",
            &[
                "--store",
                nstore.to_str().unwrap(),
                "-qR",
                nlink.to_str().unwrap(),
            ],
            &[],
        );
        let mut theirs: Vec<String> = r.stdout.lines().map(str::to_owned).collect();
        theirs.sort();
        assert_eq!(ours, theirs);
    }
}

#[test]
fn recursive_calls_are_refused_what_the_inputs_do_not_allow() {
    if !busybox() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let link = tmp.path().join("result");
    let file = tmp.path().join("unreachable");
    std::fs::write(&file, "not an input\n").unwrap();
    let added = ferrix_store(&store, &["--add", file.to_str().unwrap()]);
    assert_eq!(added.code, 0, "{}", added.stderr);
    let unreachable = added.stdout.trim().to_string();
    let r = build(
        BIN,
        &store,
        "tests/recursive/refusals.nix",
        &link,
        &options("", true),
        &[("UNREACHABLE", &unreachable)],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The path is valid in the store, yet the builder neither sees, realises nor queries it.
    let out = real(&store, &target(&link));
    for gone in ["visible", "realised", "queried", "fixed-built"] {
        assert!(!out.join(gone).exists(), "{gone}: {}", r.stderr);
    }
    let read = |n: &str| std::fs::read_to_string(out.join(n)).unwrap();
    assert!(
        read("realise.err").contains(&format!(
            "error: cannot build '{unreachable}' in recursive Nix because path is unknown"
        )),
        "{}",
        read("realise.err")
    );
    assert!(
        read("query.err").contains(&format!("error: path '{unreachable}' is not valid")),
        "{}",
        read("query.err")
    );
    let fixed = read("fixed.err");
    assert!(
        fixed.contains("error: cannot build fixed-output derivation '")
            && fixed.contains("-fetched.drv' in recursive Nix, since it could access the network"),
        "{fixed}"
    );
    // The refused derivation was never built: its output is not in the store. (Its `.drv`
    // was added, and the error text in the output refers to it.)
    let all = ferrix_store(&store, &["-q", "--requisites", link.to_str().unwrap()]);
    assert!(all.stdout.contains("-fetched.drv\n"), "{}", all.stdout);
    let valid = ferrix_store(&store, &["--dump-db"]);
    assert!(!valid.stdout.contains("-fetched\n"), "{}", valid.stdout);
    nix_verifies(&store);
}

#[test]
fn without_the_experimental_feature_the_build_fails_as_in_nix() {
    if !busybox() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let link = tmp.path().join("result");
    let r = build(
        BIN,
        &store,
        "tests/recursive/seed.nix",
        &link,
        &options("", false),
        &[],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.ends_with(
            "error: experimental Nix feature 'recursive-nix' is disabled; use '--extra-experimental-features recursive-nix' to override\n"
        ),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("building '"), "{}", r.stderr);
    assert!(!link.exists());
    if nix28() {
        let n = build(
            "nix-build",
            &tmp.path().join("nix-store"),
            "tests/recursive/seed.nix",
            &tmp.path().join("nix-result"),
            &options("", false),
            &[],
        );
        assert_eq!(n.code, r.code);
        assert_eq!(n.stderr, r.stderr);
    }
}

#[test]
fn nix28_clients_work_through_the_socket() {
    if !busybox() || !nix28() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let link = tmp.path().join("result");
    // Debian's Nix and the libraries it loads.
    let extra = "/usr/bin/nix-store=/usr/bin/nix-store /usr/bin/nix-build=/usr/bin/nix-build /usr/lib=/usr/lib /lib64/ld-linux-x86-64.so.2=/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2";
    let r = build(
        BIN,
        &store,
        "tests/recursive/nix28-client.nix",
        &link,
        &options(extra, true),
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("nix28"), "{}", r.stderr);
    let inner = std::fs::read_link(real(&store, &target(&link)).join("inner")).unwrap();
    let closure = requisites(&store, &link);
    assert!(closure.iter().any(|p| Path::new(p) == inner), "{closure:?}");
    nix_verifies(&store);
}

#[test]
fn unsandboxed_builds_use_recursive_nix_too() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().canonicalize().unwrap();
    for d in ["store", "var/nix", "var/log/nix", "etc", "build"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::write(
        dir.join("etc/nix.conf"),
        "build-users-group =\nsandbox = false\nsubstituters =\nsystem-features = recursive-nix\nexperimental-features = recursive-nix\n",
    )
    .unwrap();
    let env = |c: &mut Command| {
        c.env("NIX_STORE_DIR", dir.join("store"))
            .env("NIX_STATE_DIR", dir.join("var/nix"))
            .env("NIX_LOG_DIR", dir.join("var/log/nix"))
            .env("NIX_CONF_DIR", dir.join("etc"))
            .env("NIX_USER_CONF_FILES", "")
            .env("HOME", &dir)
            .env("TMPDIR", dir.join("build"))
            .env("FERRIX", BIN)
            .env_remove("NIX_REMOTE")
            .env_remove("NIX_CONFIG")
            .current_dir(root());
    };
    let link = dir.join("result");
    let mut c = Command::new(BIN);
    c.args(["build", "tests/recursive/unsandboxed.nix", "-o"])
        .arg(&link);
    env(&mut c);
    let o = c.output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("inner"), "{stderr}");
    let inner = std::fs::read_link(link.join("inner")).unwrap();
    assert_eq!(std::fs::read_to_string(&inner).unwrap(), "inner\n");
    let mut c = Command::new(BIN);
    c.args(["store", "-q", "--references"]).arg(&link);
    env(&mut c);
    let o = c.output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        inner.to_str().unwrap()
    );
    // The socket went with the build directory.
    assert_eq!(std::fs::read_dir(dir.join("build")).unwrap().count(), 0);
}

/// A daemon (`ferrix daemon` or Nix 2.8's `nix-daemon`) on a chroot store with recursive
/// Nix on, killed when dropped.
struct Daemon {
    child: std::process::Child,
    dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Daemon {
    fn start(ferrix: bool) -> Daemon {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().canonicalize().unwrap();
        for d in ["etc", "state", "root", "home"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        std::fs::write(
            dir.join("etc/nix.conf"),
            format!(
                "build-users-group =\nsandbox = true\nsubstituters =\nsystem-features = recursive-nix\nexperimental-features = recursive-nix\nsandbox-paths = {}\n",
                sandbox_paths()
            ),
        )
        .unwrap();
        let mut c = if ferrix {
            let mut c = Command::new(BIN);
            c.arg("daemon");
            c
        } else {
            Command::new("nix-daemon")
        };
        let child = c
            .arg("--store")
            .arg(dir.join("root"))
            .env_remove("NIX_REMOTE")
            .env_remove("NIX_CONFIG")
            .env("NIX_CONF_DIR", dir.join("etc"))
            .env("NIX_STATE_DIR", dir.join("state"))
            .env("NIX_USER_CONF_FILES", "")
            .env("HOME", dir.join("home"))
            .env("TMPDIR", dir.join("home"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let d = Daemon {
            child,
            dir,
            _tmp: tmp,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(d.dir.join("state/daemon-socket/socket"))
            .is_err()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the daemon did not listen"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        d
    }

    /// Runs Nix 2.8's `tool` as the daemon's client.
    fn client(&self, tool: &str, args: &[&str]) -> Out {
        let uri = format!(
            "unix://{}?root={}",
            self.dir.join("state/daemon-socket/socket").display(),
            self.dir.join("root").display()
        );
        let client_state = self.dir.join("client");
        run(
            tool,
            args,
            &[
                ("NIX_REMOTE", &uri),
                ("NIX_CONF_DIR", self.dir.join("etc").to_str().unwrap()),
                ("NIX_USER_CONF_FILES", ""),
                ("NIX_STATE_DIR", client_state.to_str().unwrap()),
            ],
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn nix28_client_builds_recursively_through_either_daemon() {
    if !busybox() || !nix28() || !nix::unistd::geteuid().is_root() {
        return;
    }
    let mut results = Vec::new();
    for ferrix in [true, false] {
        let d = Daemon::start(ferrix);
        let r = d.client("nix-build", &["--no-out-link", "tests/recursive/seed.nix"]);
        assert_eq!(r.code, 0, "ferrix daemon: {ferrix}: {}", r.stderr);
        assert!(r.stderr.contains("Hello, world!"), "{}", r.stderr);
        let out = r.stdout.trim().to_string();
        let q = d.client("nix-store", &["-qR", &out]);
        assert_eq!(q.code, 0, "{}", q.stderr);
        let mut closure: Vec<String> = q.stdout.lines().map(str::to_owned).collect();
        closure.sort();
        assert!(
            closure.iter().any(|p| p.ends_with("-hello-3.5")),
            "{closure:?}"
        );
        nix_verifies(&d.dir.join("root"));
        results.push((out, closure));
    }
    assert_eq!(results[0], results[1]);
}
