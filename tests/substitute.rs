//! Substitution from binary caches that Nix 2.8 writes (`nix copy --to file://…`, signed
//! with a key from `nix-store --generate-binary-cache-key`), served by a loopback HTTP
//! server started here: Ferrix substitutes the closure instead of building, and Nix 2.8
//! verifies the result; wrong keys, unsigned caches and corrupted NARs are refused and
//! leave nothing registered; `--repair` takes a damaged path from the cache again.
//!
//! Every store is a temporary chroot store; the tests skip when Nix 2.8 or the sandbox's
//! busybox is missing.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

const BIN: &str = env!("CARGO_BIN_EXE_ferrix");

const EXPR: &str = r#"
let
  a = derivation { name = "subst-a"; system = builtins.currentSystem; builder = "/bin/sh";
    args = ["-c" "echo hello-a > $out"]; };
in derivation { name = "subst-b"; system = builtins.currentSystem; builder = "/bin/sh";
  args = ["-c" "mkdir $out; echo ${a} > $out/ref; echo b > $out/f; ln -s f $out/l"]; }
"#;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(program: &str, args: &[&str], dir: &Path) -> Out {
    let o = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env_remove("NIX_PATH")
        .env_remove("NIX_REMOTE")
        .env("HOME", dir.join("home"))
        .env("XDG_CACHE_HOME", dir.join("home/.cache"))
        .env("NIX_STATE_DIR", dir.join("state"))
        .output()
        .unwrap();
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn have_nix() -> bool {
    let ok = Command::new("nix-store")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains(" 2.8."))
        .unwrap_or(false)
        && Path::new("/bin/busybox").exists();
    if !ok {
        eprintln!("skipping: Nix 2.8 or /bin/busybox is not installed");
    }
    ok
}

/// Serves the files under `root` over HTTP on 127.0.0.1; counts the requests.
struct Server {
    url: String,
    hits: Arc<AtomicUsize>,
}

fn serve(root: PathBuf) -> Server {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            h.fetch_add(1, Ordering::SeqCst);
            let root = root.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                if r.read_line(&mut line).is_err() {
                    return;
                }
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                }
                let path = line.split(' ').nth(1).unwrap_or("/").to_string();
                let file = root.join(path.trim_start_matches('/'));
                match std::fs::read(&file).ok().filter(|_| !path.contains("..")) {
                    Some(body) => {
                        let _ = write!(
                            s,
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = s.write_all(&body);
                    }
                    None => {
                        let _ = s.write_all(
                            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        );
                    }
                }
            });
        }
    });
    Server { url, hits }
}

/// What Nix 2.8 made once for all tests: the built closure, a key pair, and caches of it
/// (signed xz, signed zstd, unsigned), all served over HTTP.
struct Fixture {
    dir: tempfile::TempDir,
    out: String,
    dep: String,
    public_key: String,
    other_key: String,
    server: Server,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("home")).unwrap();
        std::fs::write(d.join("dep.nix"), EXPR).unwrap();
        for (name, sk, pk) in [("test-1", "sk", "pk"), ("test-1", "sk2", "pk2")] {
            let o = run(
                "nix-store",
                &["--generate-binary-cache-key", name, sk, pk],
                d,
            );
            assert_eq!(o.code, 0, "{}", o.stderr);
        }
        let src = d.join("src");
        let o = run(
            "nix-build",
            &[
                "--store",
                src.to_str().unwrap(),
                "--option",
                "substituters",
                "",
                "--option",
                "sandbox",
                "true",
                "--option",
                "sandbox-paths",
                "/bin/sh=/bin/busybox",
                "--no-out-link",
                "dep.nix",
            ],
            d,
        );
        assert_eq!(o.code, 0, "{}", o.stderr);
        let out = o.stdout.trim().to_string();
        let q = run(
            "nix-store",
            &["--store", src.to_str().unwrap(), "-q", "--references", &out],
            d,
        );
        let dep = q.stdout.trim().to_string();
        assert!(dep.ends_with("-subst-a"), "{}", q.stdout);
        let sk = d.join("sk");
        for (cache, params) in [
            ("xz", format!("?secret-key={}", sk.display())),
            (
                "zstd",
                format!("?compression=zstd&secret-key={}", sk.display()),
            ),
            ("unsigned", String::new()),
        ] {
            let o = run(
                "nix",
                &[
                    "--extra-experimental-features",
                    "nix-command",
                    "copy",
                    "--store",
                    src.to_str().unwrap(),
                    "--to",
                    &format!("file://{}/{cache}{params}", d.join("www").display()),
                    &out,
                ],
                d,
            );
            assert_eq!(o.code, 0, "{}", o.stderr);
        }
        let public_key = std::fs::read_to_string(d.join("pk")).unwrap();
        let other_key = std::fs::read_to_string(d.join("pk2")).unwrap();
        let server = serve(d.join("www"));
        Fixture {
            dir,
            out,
            dep,
            public_key,
            other_key,
            server,
        }
    })
}

impl Fixture {
    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A fresh store path under the fixture.
    fn new_store(&self, name: &str) -> PathBuf {
        let p = self.path().join(format!("dst-{name}"));
        let _ = std::fs::remove_dir_all(&p);
        p
    }

    /// `ferrix CMD --store STORE` from `cache` with `key` trusted.
    fn ferrix(&self, cmd: &str, store: &Path, cache: &str, key: &str, args: &[&str]) -> Out {
        let mut a = vec![
            cmd,
            "--store",
            store.to_str().unwrap(),
            "--option",
            "substituters",
            cache,
            "--option",
            "trusted-public-keys",
            key,
        ];
        a.extend_from_slice(args);
        run(BIN, &a, self.path())
    }

    fn nix_verify(&self, store: &Path) {
        let o = run(
            "nix-store",
            &[
                "--store",
                store.to_str().unwrap(),
                "--option",
                "substituters",
                "",
                "--verify",
                "--check-contents",
            ],
            self.path(),
        );
        assert_eq!(o.code, 0, "{}", o.stderr);
        assert!(!o.stderr.contains("error"), "{}", o.stderr);
    }

    fn valid(&self, store: &Path, p: &str) -> bool {
        run(
            "nix-store",
            &["--store", store.to_str().unwrap(), "--check-validity", p],
            self.path(),
        )
        .code
            == 0
    }
}

#[test]
fn nix_build_substitutes_the_closure_from_signed_http_caches() {
    if !have_nix() {
        return;
    }
    let f = fixture();
    for cache in ["xz", "zstd"] {
        let url = format!("{}/{cache}", f.server.url);
        let store = f.new_store(cache);
        // --dry-run says what will be fetched, with sizes, as Nix 2.8 says it.
        let dry = f.ferrix(
            "build",
            &store,
            &url,
            &f.public_key,
            &["--dry-run", "dep.nix"],
        );
        assert_eq!(dry.code, 0, "{}", dry.stderr);
        let nix_store = f.new_store(&format!("{cache}-nix"));
        let nix_dry = run(
            "nix-build",
            &[
                "--store",
                nix_store.to_str().unwrap(),
                "--option",
                "substituters",
                &url,
                "--option",
                "trusted-public-keys",
                &f.public_key,
                "--dry-run",
                "dep.nix",
            ],
            f.path(),
        );
        assert_eq!(dry.stderr, nix_dry.stderr);
        assert!(
            dry.stderr.starts_with("these 2 paths will be fetched ("),
            "{}",
            dry.stderr
        );
        let hits = f.server.hits.load(Ordering::SeqCst);
        let o = f.ferrix(
            "build",
            &store,
            &url,
            &f.public_key,
            &["--no-out-link", "dep.nix"],
        );
        assert_eq!(o.code, 0, "{}", o.stderr);
        assert_eq!(o.stdout.trim(), f.out);
        assert!(!o.stderr.contains("building"), "{}", o.stderr);
        for p in [&f.out, &f.dep] {
            assert!(
                o.stderr
                    .contains(&format!("copying path '{p}' from '{url}'...")),
                "{}",
                o.stderr
            );
        }
        assert!(
            f.server.hits.load(Ordering::SeqCst) > hits,
            "no request reached the server"
        );
        f.nix_verify(&store);
        // The copies carry the cache's signature and their references.
        let q = run(
            "nix-store",
            &[
                "--store",
                store.to_str().unwrap(),
                "-q",
                "--references",
                &f.out,
            ],
            f.path(),
        );
        assert_eq!(q.stdout.trim(), f.dep);
        // Nothing left to do: the next build fetches nothing.
        let again = f.ferrix(
            "build",
            &store,
            &url,
            &f.public_key,
            &["--no-out-link", "dep.nix"],
        );
        assert_eq!(again.code, 0);
        assert!(!again.stderr.contains("copying"), "{}", again.stderr);
    }
}

#[test]
fn nix_store_realise_substitutes_a_plain_path() {
    if !have_nix() {
        return;
    }
    let f = fixture();
    let url = format!("{}/xz", f.server.url);
    let store = f.new_store("realise");
    let o = f.ferrix("store", &store, &url, &f.public_key, &["-r", &f.out]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout.trim(), f.out);
    assert!(f.valid(&store, &f.dep));
    f.nix_verify(&store);
}

#[test]
fn a_wrong_key_or_an_unsigned_cache_is_refused() {
    if !have_nix() {
        return;
    }
    let f = fixture();
    for (cache, key, extra) in [
        ("xz", f.other_key.as_str(), None),
        ("unsigned", f.public_key.as_str(), None),
        ("unsigned", f.public_key.as_str(), Some("true")),
    ] {
        let url = format!("{}/{cache}", f.server.url);
        let store = f.new_store(&format!("refused-{cache}"));
        let mut args = vec!["-r", f.out.as_str()];
        if let Some(v) = extra {
            args.extend(["--option", "require-sigs", "false"]);
            let _ = v;
        }
        let o = f.ferrix("store", &store, &url, key, &args);
        if extra.is_some() {
            // Without require-sigs the unsigned cache is used.
            assert_eq!(o.code, 0, "{}", o.stderr);
            assert!(f.valid(&store, &f.out));
            f.nix_verify(&store);
            continue;
        }
        assert_eq!(o.code, 1, "{cache}: {}", o.stderr);
        assert!(
            o.stderr.contains(&format!(
                "warning: the substitute for '{}' from '{url}' is not signed by any of the keys in 'trusted-public-keys'",
                f.out
            )),
            "{}",
            o.stderr
        );
        assert!(
            o.stderr
                .contains(&format!("error: build of '{}' failed", f.out)),
            "{}",
            o.stderr
        );
        assert!(!f.valid(&store, &f.out) && !f.valid(&store, &f.dep));
        assert!(!store.join("nix/store").join(&f.out[11..]).exists());
    }
}

#[test]
fn a_corrupted_nar_is_refused_and_nothing_is_registered() {
    if !have_nix() {
        return;
    }
    let f = fixture();
    // A copy of the cache whose NAR of the dependency has other contents (a valid xz
    // stream, so only the NAR hash tells).
    let bad = f.path().join("www/bad");
    let _ = std::fs::remove_dir_all(&bad);
    copy_dir(&f.path().join("www/unsigned"), &bad);
    let info = std::fs::read_to_string(bad.join(format!("{}.narinfo", &f.dep[11..43]))).unwrap();
    let url = info
        .lines()
        .find_map(|l| l.strip_prefix("URL: "))
        .unwrap()
        .to_string();
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "xz -dc {0} | sed s/hello-a/HELLO-A/ | xz > {0}.new && mv {0}.new {0}",
            bad.join(&url).display()
        ))
        .status()
        .unwrap();
    assert!(o.success());
    let store = f.new_store("corrupt");
    let url = format!("{}/bad", f.server.url);
    let o = f.ferrix(
        "build",
        &store,
        &url,
        &f.public_key,
        &[
            "--option",
            "require-sigs",
            "false",
            "--no-out-link",
            "dep.nix",
        ],
    );
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(
        o.stderr
            .contains(&format!("error: hash mismatch importing path '{}'", f.dep)),
        "{}",
        o.stderr
    );
    assert!(o
        .stderr
        .contains("try '--fallback' to build derivation from source"));
    assert!(!f.valid(&store, &f.dep) && !f.valid(&store, &f.out));
    assert!(!store.join("nix/store").join(&f.dep[11..]).exists());
    f.nix_verify(&store);
}

#[test]
fn repair_takes_a_damaged_path_from_the_cache_again() {
    if !have_nix() {
        return;
    }
    let f = fixture();
    let url = format!("file://{}/www/xz", f.path().display());
    let store = f.new_store("repair");
    let o = f.ferrix("store", &store, &url, &f.public_key, &["-r", &f.out]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let real = store.join("nix/store").join(&f.out[11..]);
    let mut perms = std::fs::metadata(&real).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&real, perms).unwrap();
    std::fs::write(real.join("bad"), b"x").unwrap();
    let o = f.ferrix(
        "store",
        &store,
        &url,
        &f.public_key,
        &["--verify", "--check-contents", "--repair"],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains("was modified!"), "{}", o.stderr);
    assert!(!real.join("bad").exists());
    f.nix_verify(&store);
    // `-r --repair` of the damaged dependency takes it from the cache again too.
    let dep = store.join("nix/store").join(&f.dep[11..]);
    let mut perms = std::fs::metadata(&dep).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&dep, perms).unwrap();
    std::fs::write(&dep, b"damaged\n").unwrap();
    let o = f.ferrix(
        "store",
        &store,
        &url,
        &f.public_key,
        &["-r", "--repair", &f.dep],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stderr
            .contains(&format!("copying path '{}' from '{url}'...", f.dep)),
        "{}",
        o.stderr
    );
    assert_eq!(std::fs::read(&dep).unwrap(), b"hello-a\n");
    f.nix_verify(&store);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).unwrap();
        }
    }
}

#[test]
fn nix_clients_of_the_ferrix_daemon_see_and_get_substitutes() {
    if !have_nix() {
        return;
    }
    let f = fixture();
    let url = format!("{}/xz", f.server.url);
    let dir = f.path().join("daemon");
    let _ = std::fs::remove_dir_all(&dir);
    for d in ["etc", "state", "root", "home"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::write(
        dir.join("etc/nix.conf"),
        format!(
            "substituters = {url}\ntrusted-public-keys = {}\nbuild-users-group =\n",
            f.public_key.trim()
        ),
    )
    .unwrap();
    let env = |c: &mut Command| {
        c.env_remove("NIX_REMOTE")
            .env("NIX_CONF_DIR", dir.join("etc"))
            .env("NIX_USER_CONF_FILES", "")
            .env("NIX_STATE_DIR", dir.join("state"))
            .env("HOME", dir.join("home"))
            .env("XDG_CACHE_HOME", dir.join("home/.cache"));
    };
    let mut c = Command::new(BIN);
    c.args(["daemon", "--store"]).arg(dir.join("root"));
    env(&mut c);
    let mut child = c
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let socket = dir.join("state/daemon-socket/socket");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon did not listen"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let remote = format!(
        "unix://{}?root={}",
        socket.display(),
        dir.join("root").display()
    );
    let client = |tool: &str, args: &[&str]| {
        let mut c = Command::new(tool);
        env(&mut c);
        c.env("NIX_REMOTE", &remote)
            .env("NIX_STATE_DIR", dir.join("home/state"))
            .current_dir(f.path())
            .args(args);
        let o = c.output().unwrap();
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    };
    // `nix-env -qas` asks the daemon which paths the substituters have.
    let q = client("nix-env", &["-f", "dep.nix", "-qas"]);
    assert_eq!(q.code, 0, "{}", q.stderr);
    assert_eq!(q.stdout.trim(), "--S  subst-b", "{}", q.stderr);
    // What `-r` would fetch (QueryMissing), then the copy itself, done by the daemon.
    let dry = client("nix-store", &["-r", "--dry-run", &f.out]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stderr.starts_with("these 2 paths will be fetched ("),
        "{}",
        dry.stderr
    );
    let r = client("nix-store", &["-r", &f.out]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.trim(), f.out);
    let _ = child.kill();
    let _ = child.wait();
    f.nix_verify(&dir.join("root"));
}

#[test]
fn nix_substitutes_from_a_cache_that_ferrix_writes_and_signs() {
    if !have_nix() {
        return;
    }
    let f = fixture();
    let d = f.path();
    let src = d.join("src");
    let cache = d.join("ferrix-cache");
    let _ = std::fs::remove_dir_all(&cache);
    // `nix-store --export` of the closure, imported by Ferrix into a file:// cache that
    // signs with the fixture's key and compresses with zstd.
    let export = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "nix-store --store {0} --export $(nix-store --store {0} -qR {1}) | {2} store --store 'file://{3}?secret-key={4}&compression=zstd' --import",
            src.display(),
            f.out,
            BIN,
            cache.display(),
            d.join("sk").display()
        ))
        .current_dir(d)
        .env("HOME", d.join("home"))
        .output()
        .unwrap();
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let info = std::fs::read_to_string(cache.join(format!("{}.narinfo", &f.out[11..43]))).unwrap();
    assert!(info.contains("Compression: zstd\n"), "{info}");
    assert!(info.contains("\nSig: test-1:"), "{info}");
    let url = format!("file://{}", cache.display());
    for (key, ok) in [(&f.public_key, true), (&f.other_key, false)] {
        let store = f.new_store(if ok { "from-ferrix" } else { "from-ferrix-bad" });
        let o = run(
            "nix-store",
            &[
                "--store",
                store.to_str().unwrap(),
                "--option",
                "substituters",
                &url,
                "--option",
                "trusted-public-keys",
                key,
                "-r",
                &f.out,
            ],
            d,
        );
        assert_eq!(o.code == 0, ok, "{}", o.stderr);
        if ok {
            f.nix_verify(&store);
            assert!(f.valid(&store, &f.dep));
        } else {
            assert!(
                o.stderr.contains("is not signed by any of the keys"),
                "{}",
                o.stderr
            );
        }
    }
}
