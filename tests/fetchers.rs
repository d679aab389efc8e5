//! The fetchers against Nix 2.8: `fetchTarball`, `fetchurl` and `fetchGit` give the same
//! store paths and attributes, and the download cache behaves as Nix's (no request within
//! `tarball-ttl`, a `304` with no body when revalidating, new content for a new ETag).
//!
//! Every download comes from a server on 127.0.0.1 that this test starts, or from
//! `file://` paths in a temporary directory; every store is a chroot store and every cache
//! lives under a temporary `HOME`/`XDG_CACHE_HOME`. The comparisons with Nix skip (with a
//! note) when `nix-instantiate` is not installed.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

const BIN: &str = env!("CARGO_BIN_EXE_ferrix");

/// What the test server serves, and what it saw.
#[derive(Default)]
struct ServerState {
    body: Vec<u8>,
    etag: String,
    requests: u32,
    not_modified: u32,
    bodies: u32,
    /// The `User-Agent` of each GET.
    agents: Vec<String>,
    /// The `Authorization` of each GET (empty: none).
    auths: Vec<String>,
}

struct Server {
    base: String,
    state: Arc<Mutex<ServerState>>,
}

impl Server {
    /// Starts a server that answers every GET with `body` (and an `ETag`), or with `304`
    /// when the request's `If-None-Match` is the current ETag.
    fn start(body: Vec<u8>, etag: &str) -> Server {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", l.local_addr().unwrap());
        let state = Arc::new(Mutex::new(ServerState {
            body,
            etag: etag.to_string(),
            ..Default::default()
        }));
        let st = state.clone();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(mut s) = conn else { continue };
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut inm = None;
                let mut agent = String::new();
                let mut auth = String::new();
                let mut first = true;
                let mut is_get = false;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    if first {
                        is_get = line.starts_with("GET ");
                        first = false;
                    }
                    if line == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':') {
                        if k.eq_ignore_ascii_case("if-none-match") {
                            inm = Some(v.trim().to_string());
                        }
                        if k.eq_ignore_ascii_case("user-agent") {
                            agent = v.trim().to_string();
                        }
                        if k.eq_ignore_ascii_case("authorization") {
                            auth = v.trim().to_string();
                        }
                    }
                }
                if !is_get {
                    continue;
                }
                let mut g = st.lock().unwrap();
                g.requests += 1;
                g.agents.push(agent);
                g.auths.push(auth);
                if inm.as_deref() == Some(g.etag.as_str()) {
                    g.not_modified += 1;
                    let head = format!(
                        "HTTP/1.1 304 Not Modified\r\nETag: {}\r\nConnection: close\r\n\r\n",
                        g.etag
                    );
                    let _ = s.write_all(head.as_bytes());
                } else {
                    g.bodies += 1;
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nETag: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        g.etag,
                        g.body.len()
                    );
                    let _ = s.write_all(head.as_bytes());
                    let _ = s.write_all(&g.body);
                }
                let _ = s.flush();
            }
        });
        Server { base, state }
    }

    fn counts(&self) -> (u32, u32, u32) {
        let g = self.state.lock().unwrap();
        (g.requests, g.not_modified, g.bodies)
    }

    fn set(&self, body: Vec<u8>, etag: &str) {
        let mut g = self.state.lock().unwrap();
        g.body = body;
        g.etag = etag.to_string();
    }
}

/// A temporary world: a chroot store and a home with its own cache, per implementation.
struct World {
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        World {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// Runs `program` (Ferrix's `instantiate`, or `nix-instantiate`) with the store and
    /// cache of `who` ("ferrix" or "nix").
    fn eval(&self, who: &str, extra: &[&str], expr: &str) -> Output {
        self.eval_env(who, &[], extra, expr)
    }

    /// [`Self::eval`] with more environment variables.
    fn eval_env(&self, who: &str, env: &[(&str, &str)], extra: &[&str], expr: &str) -> Output {
        let mut c = if who == "ferrix" {
            let mut c = Command::new(BIN);
            c.arg("instantiate");
            c
        } else {
            Command::new("nix-instantiate")
        };
        for v in [
            "NIX_REMOTE",
            "NIX_STORE_DIR",
            "NIX_STATE_DIR",
            "NIX_LOG_DIR",
            "NIX_PATH",
        ] {
            c.env_remove(v);
        }
        let home = self.path(&format!("home-{who}"));
        std::fs::create_dir_all(&home).unwrap();
        c.env("HOME", &home)
            .env("XDG_CACHE_HOME", home.join("cache"))
            .env("TMPDIR", self.dir.path())
            .stdin(Stdio::null())
            .args([
                "--store",
                self.path(&format!("store-{who}")).to_str().unwrap(),
            ])
            .args(["--option", "substituters", ""])
            .args(extra)
            .args(["--eval", "--strict", "-E", expr])
            .envs(env.iter().copied());
        c.output().expect("run the evaluator")
    }
}

fn have_nix() -> bool {
    let ok = Command::new("nix-instantiate")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("note: nix-instantiate is not installed; skipping the comparison with Nix 2.8");
    }
    ok
}

#[track_caller]
fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "failed ({:?}): {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// The error text, without the `error: ` prefix and ANSI escapes.
#[track_caller]
fn fails(o: Output) -> String {
    assert!(
        !o.status.success(),
        "succeeded: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let e = String::from_utf8_lossy(&o.stderr).to_string();
    let mut clean = String::new();
    let mut chars = e.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            clean.push(c);
        }
    }
    clean
        .lines()
        .filter(|l| !l.starts_with("warning:"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A source tree with a file, an executable, a symlink and a subdirectory, under `top`.
fn make_tree(root: &Path, marker: &str) {
    let top = root.join("top");
    std::fs::create_dir_all(top.join("sub")).unwrap();
    std::fs::write(top.join("a.txt"), format!("hello {marker}\n")).unwrap();
    std::fs::write(top.join("sub/run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        top.join("sub/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("a.txt", top.join("link")).unwrap();
}

/// `tar` of `root/top` compressed with `filter` ("" for none), as bytes.
fn tarball(root: &Path, flag: &str) -> Vec<u8> {
    let out = root.join("t.tar");
    let mut c = Command::new("tar");
    c.arg("-C").arg(root);
    if !flag.is_empty() {
        c.arg(flag);
    }
    let st = c
        .arg("--mtime=2020-01-01 00:00:00Z")
        .arg("-cf")
        .arg(&out)
        .arg("top")
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::read(out).unwrap()
}

fn quote(s: &str) -> String {
    format!("\"{s}\"")
}

#[test]
fn fetch_tarball_path_ttl_etag() {
    let w = World::new();
    let src = w.path("src");
    make_tree(&src, "one");
    let server = Server::start(tarball(&src, "-z"), "\"v1\"");
    let url = format!("{}/t.tar.gz", server.base);
    let expr = format!("builtins.fetchTarball {}", quote(&url));

    let first = ok(w.eval("ferrix", &[], &expr));
    assert!(first.ends_with("-source\""), "{first}");
    assert_eq!(server.counts(), (1, 0, 1));
    if have_nix() {
        let nix = ok(w.eval("nix", &[], &expr));
        assert_eq!(first, nix, "fetchTarball differs from Nix 2.8");
    }
    let base = server.counts();

    // Within the TTL: no request at all.
    assert_eq!(ok(w.eval("ferrix", &[], &expr)), first);
    assert_eq!(server.counts(), base);

    // tarball-ttl 0: revalidated, the server answers 304, no body is sent.
    let ttl0 = ["--option", "tarball-ttl", "0"];
    assert_eq!(ok(w.eval("ferrix", &ttl0, &expr)), first);
    assert_eq!(server.counts(), (base.0 + 1, base.1 + 1, base.2));

    // A new ETag: new content, a new path.
    make_tree(&w.path("src2"), "two");
    server.set(tarball(&w.path("src2"), "-z"), "\"v2\"");
    let second = ok(w.eval("ferrix", &ttl0, &expr));
    assert_ne!(second, first);
    assert_eq!(server.counts(), (base.0 + 2, base.1 + 1, base.2 + 1));
    let out = second.trim_matches('"');
    let real = w.path("store-ferrix").join(out.trim_start_matches('/'));
    assert_eq!(
        std::fs::read_to_string(real.join("a.txt")).unwrap(),
        "hello two\n"
    );
    // And the cache Nix would read records it, in Nix's format.
    let db = w.path("home-ferrix/cache/nix/fetcher-cache-v1.sqlite");
    assert!(db.exists());
    if have_nix() {
        // Nix 2.8, reading the same tarball from the new server state, agrees.
        let nix = ok(w.eval("nix", &["--option", "tarball-ttl", "0"], &expr));
        assert_eq!(second, nix);
    }
}

#[test]
fn unpacks_every_archive_kind_as_nix() {
    let w = World::new();
    let src = w.path("src");
    make_tree(&src, "kinds");
    let mut exprs = Vec::new();
    for (flag, ext) in [
        ("", "tar"),
        ("-z", "tar.gz"),
        ("-J", "tar.xz"),
        ("-j", "tar.bz2"),
        ("--zstd", "tar.zst"),
    ] {
        let f = w.path(&format!("a.{ext}"));
        std::fs::write(&f, tarball(&src, flag)).unwrap();
        exprs.push(format!("(builtins.fetchTarball file://{})", f.display()));
    }
    let zip = w.path("a.zip");
    let st = Command::new("zip")
        .current_dir(&src)
        .args(["-qry", zip.to_str().unwrap(), "top"])
        .status();
    if st.is_ok_and(|s| s.success()) {
        exprs.push(format!("(builtins.fetchTarball file://{})", zip.display()));
    }
    let expr = format!("[ {} ]", exprs.join(" "));
    let ours = ok(w.eval("ferrix", &[], &expr));
    // Every tar format gives the same tree.
    let paths: Vec<&str> = ours
        .trim_matches(['[', ']', ' '])
        .split_whitespace()
        .collect();
    assert_eq!(paths.len(), exprs.len());
    assert!(paths[..5].iter().all(|p| *p == paths[0]), "{ours}");
    if have_nix() {
        assert_eq!(ours, ok(w.eval("nix", &[], &expr)));
    }
    // Not an archive with one top-level directory.
    let multi = w.path("multi.tar");
    std::fs::write(&multi, {
        let st = Command::new("tar")
            .arg("-C")
            .arg(src.join("top"))
            .args(["-cf", multi.to_str().unwrap(), "a.txt", "sub"])
            .status()
            .unwrap();
        assert!(st.success());
        std::fs::read(&multi).unwrap()
    })
    .unwrap();
    let e = format!("builtins.fetchTarball file://{}", multi.display());
    let err = fails(w.eval("ferrix", &[], &e));
    assert_eq!(
        err,
        format!(
            "error: tarball 'file://{}' contains an unexpected number of top-level files",
            multi.display()
        )
    );
}

#[test]
fn fetchurl_paths_and_errors_as_nix() {
    let w = World::new();
    let file = w.path("hello.txt");
    std::fs::write(&file, "hello\n").unwrap();
    let server = Server::start(b"hello\n".to_vec(), "\"h\"");
    let http = format!("{}/dir/hello.txt", server.base);
    let cases = [
        format!("builtins.fetchurl {}", quote(&http)),
        format!("builtins.fetchurl file://{}", file.display()),
        format!(
            "builtins.fetchurl {{ url = {}; name = \"other\"; }}",
            quote(&http)
        ),
        // The right hash, in base 16, from a SHA-256 of the contents.
        format!(
            "builtins.fetchurl {{ url = {}; sha256 = \"5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03\"; }}",
            quote(&http)
        ),
    ];
    let ours: Vec<String> = cases.iter().map(|e| ok(w.eval("ferrix", &[], e))).collect();
    assert!(ours[0].ends_with("-hello.txt\""), "{}", ours[0]);
    assert_eq!(ours[0], ours[1], "same content, same name, same path");
    assert!(ours[2].ends_with("-other\""));
    assert_eq!(ours[3], ours[0]);

    let bad_hash = format!(
        "builtins.fetchurl {{ url = \"file://{}\"; sha256 = \"{}\"; }}",
        file.display(),
        "0".repeat(52)
    );
    let missing = format!("builtins.fetchurl file://{}/nope", w.path("").display());
    let pure = format!("builtins.fetchurl file://{}", file.display());
    let errors = [
        (bad_hash.as_str(), vec![]),
        (missing.as_str(), vec![]),
        (pure.as_str(), vec!["--option", "pure-eval", "true"]),
        ("builtins.fetchurl { url = \"x\"; foo = 1; }", vec![]),
        ("builtins.fetchTarball {}", vec![]),
    ];
    let our_errors: Vec<String> = errors
        .iter()
        .map(|(e, extra)| fails(w.eval("ferrix", extra, e)))
        .collect();
    assert!(
        our_errors[0].contains("hash mismatch in file downloaded from"),
        "{}",
        our_errors[0]
    );
    // Nix's exit status for a hash mismatch.
    assert_eq!(w.eval("ferrix", &[], &bad_hash).status.code(), Some(102));
    assert_eq!(
        our_errors[2],
        "error: in pure evaluation mode, 'fetchurl' requires a 'sha256' argument"
    );
    if have_nix() {
        for (e, c) in cases.iter().zip(&ours) {
            assert_eq!(&ok(w.eval("nix", &[], e)), c, "{e}");
        }
        for ((e, extra), ours) in errors.iter().zip(&our_errors) {
            assert_eq!(&fails(w.eval("nix", extra, e)), ours, "{e}");
        }
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "T")
        .env("GIT_AUTHOR_EMAIL", "t@example.org")
        .env("GIT_COMMITTER_NAME", "T")
        .env("GIT_COMMITTER_EMAIL", "t@example.org")
        .env("GIT_AUTHOR_DATE", "2021-02-03T04:05:06Z")
        .env("GIT_COMMITTER_DATE", "2021-02-03T04:05:06Z")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("run git");
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn fetch_git_as_nix() {
    if Command::new("git").arg("--version").output().is_err() {
        eprintln!("note: git is not installed; skipping");
        return;
    }
    let w = World::new();
    let repo = w.path("repo");
    std::fs::create_dir_all(repo.join("d")).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("f"), "one\n").unwrap();
    std::fs::write(repo.join("d/g"), "x\n").unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-qm", "one"]);
    let first = git(&repo, &["rev-parse", "HEAD"]);
    std::fs::write(repo.join("f"), "two\n").unwrap();
    git(&repo, &["commit", "-qam", "two"]);
    git(&repo, &["checkout", "-qb", "other"]);
    std::fs::write(repo.join("h"), "other\n").unwrap();
    git(&repo, &["add", "h"]);
    git(&repo, &["commit", "-qm", "three"]);
    git(&repo, &["checkout", "-q", "main"]);
    let r = repo.display();
    let exprs = [
        format!("builtins.fetchGit {r}"),
        format!("builtins.fetchGit file://{r}"),
        format!("builtins.fetchGit {{ url = {r}; ref = \"other\"; }}"),
        format!("builtins.fetchGit {{ url = {r}; rev = \"{first}\"; name = \"n\"; }}"),
        format!("builtins.fetchGit {{ url = {r}; rev = \"{first}\"; shallow = true; }}"),
    ];
    let ours: Vec<String> = exprs.iter().map(|e| ok(w.eval("ferrix", &[], e))).collect();
    assert!(ours[0].contains("revCount = 2;"), "{}", ours[0]);
    assert!(
        ours[0].contains("lastModified = 1612325106;"),
        "{}",
        ours[0]
    );
    assert!(ours[0].contains("lastModifiedDate = \"20210203040506\";"));
    assert!(ours[2].contains("revCount = 3;"), "{}", ours[2]);
    assert!(
        ours[3].contains(&format!("rev = \"{first}\";")),
        "{}",
        ours[3]
    );
    assert!(ours[3].contains("-n\";"), "{}", ours[3]);
    // A dirty working tree: its tracked files as they are, with the all-zero revision.
    std::fs::write(repo.join("f"), "dirty\n").unwrap();
    std::fs::write(repo.join("untracked"), "no\n").unwrap();
    let dirty_expr = format!("builtins.fetchGit {r}");
    let dirty = ok(w.eval("ferrix", &[], &dirty_expr));
    assert!(
        dirty.contains(&format!("rev = \"{}\";", "0".repeat(40))),
        "{dirty}"
    );
    assert_ne!(dirty, ours[0]);
    let not_allowed = fails(w.eval("ferrix", &["--option", "allow-dirty", "false"], &dirty_expr));
    assert!(
        not_allowed.contains(&format!("Git tree '{r}' is dirty")),
        "{not_allowed}"
    );
    let pure = fails(w.eval("ferrix", &["--option", "pure-eval", "true"], &exprs[0]));
    assert!(
        pure.starts_with("error: in pure evaluation mode, 'fetchTree' requires a locked input"),
        "{pure}"
    );
    // A bare repository is fetched as a remote one, into the cache's `nix/gitv3`; its
    // branch is fetched again only after `tarball-ttl`.
    let bare = w.path("bare.git");
    git(
        &w.path(""),
        &[
            "clone",
            "-q",
            "--bare",
            repo.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    // (Without `ref`, a remote repository's branch is `master`, as in Nix.)
    let remote = format!(
        "(builtins.fetchGit {{ url = file://{}; ref = \"main\"; }}).revCount",
        bare.display()
    );
    assert_eq!(ok(w.eval("ferrix", &[], &remote)), "2");
    let gitv3 = w.path("home-ferrix/cache/nix/gitv3");
    assert_eq!(
        std::fs::read_dir(&gitv3).unwrap().count(),
        2,
        "repository and lock"
    );
    git(&repo, &["push", "-q", bare.to_str().unwrap(), "other:main"]);
    assert_eq!(ok(w.eval("ferrix", &[], &remote)), "2", "within the TTL");
    let ttl0 = ["--option", "tarball-ttl", "0"];
    assert_eq!(ok(w.eval("ferrix", &ttl0, &remote)), "3", "after it");
    if have_nix() {
        assert_eq!(ok(w.eval("nix", &[], &remote)), "3");
        assert_eq!(ok(w.eval("nix", &[], &dirty_expr)), dirty);
        git(&repo, &["checkout", "-q", "f"]);
        for (e, c) in exprs.iter().zip(&ours) {
            assert_eq!(&ok(w.eval("nix", &[], e)), c, "{e}");
        }
        assert_eq!(
            fails(w.eval("nix", &["--option", "pure-eval", "true"], &exprs[0])),
            pure
        );
    }
}

/// Runs `nix-build`-style file arguments and `-I` entries through either evaluator
/// (without `--eval`: instantiation of a plain value prints nothing, so `--eval`).
fn eval_args(w: &World, who: &str, args: &[&str]) -> Output {
    let mut c = if who == "ferrix" {
        let mut c = Command::new(BIN);
        c.arg("instantiate");
        c
    } else {
        Command::new("nix-instantiate")
    };
    for v in [
        "NIX_REMOTE",
        "NIX_STORE_DIR",
        "NIX_STATE_DIR",
        "NIX_LOG_DIR",
        "NIX_PATH",
    ] {
        c.env_remove(v);
    }
    let home = w.path(&format!("home-{who}"));
    std::fs::create_dir_all(&home).unwrap();
    c.env("HOME", &home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .stdin(Stdio::null())
        .args(["--store", w.path(&format!("store-{who}")).to_str().unwrap()])
        .args(["--option", "substituters", ""])
        .arg("--eval")
        .args(args);
    c.output().expect("run the evaluator")
}

#[test]
fn uris_in_search_path_file_args_and_fetch_tree() {
    let w = World::new();
    let src = w.path("src");
    make_tree(&src, "sp");
    std::fs::write(src.join("top/default.nix"), "{ x = 1 + 2; }").unwrap();
    std::fs::write(src.join("top/lib.nix"), "\"from lib\"").unwrap();
    let tar = w.path("t.tar.gz");
    std::fs::write(&tar, tarball(&src, "-z")).unwrap();
    let url = format!("file://{}", tar.display());
    let missing = format!("file://{}/none.tar", w.path("").display());

    // A URI as the file to evaluate.
    let direct = ok(eval_args(&w, "ferrix", &["-A", "x", &url]));
    assert_eq!(direct, "3");
    // In the search path; an entry that cannot be downloaded is skipped with a warning.
    let found = eval_args(
        &w,
        "ferrix",
        &[
            "-I",
            &format!("p={missing}"),
            "-I",
            &format!("p={url}"),
            "-E",
            "import <p/lib.nix>",
        ],
    );
    let warning = String::from_utf8_lossy(&found.stderr).to_string();
    assert!(
        warning.contains(&format!(
            "Nix search path entry '{missing}' cannot be downloaded, ignoring"
        )),
        "{warning}"
    );
    assert_eq!(ok(found), "\"from lib\"");

    // fetchTree needs the flakes feature; with it, a tarball gives outPath and narHash.
    let tree = format!("builtins.fetchTree {url}");
    let off = fails(w.eval("ferrix", &[], &tree));
    assert_eq!(
        off,
        "error: experimental Nix feature 'flakes' is disabled; use '--extra-experimental-features flakes' to override"
    );
    let flakes = ["--extra-experimental-features", "flakes"];
    let ours = ok(w.eval("ferrix", &flakes, &tree));
    assert!(ours.contains("narHash = \"sha256-"), "{ours}");
    let bad = format!(
        "builtins.fetchTree {{ type = \"tarball\"; url = {url}; narHash = \"sha256-xdKv2pq/IiwLSnBBJXW8hNowI4MrdZfW+SYqDQs7Tzc=\"; }}"
    );
    let mismatch = fails(w.eval("ferrix", &flakes, &bad));
    assert!(
        mismatch.contains("NAR hash mismatch in input"),
        "{mismatch}"
    );
    if have_nix() {
        assert_eq!(ok(eval_args(&w, "nix", &["-A", "x", &url])), direct);
        assert_eq!(ok(w.eval("nix", &flakes, &tree)), ours);
        // The same, but for the store each used.
        assert_eq!(
            fails(w.eval("nix", &flakes, &bad)).replace("store-nix", "store-ferrix"),
            mismatch
        );
    }
}

#[test]
fn fetch_git_submodules_as_nix() {
    if Command::new("git").arg("--version").output().is_err() {
        eprintln!("note: git is not installed; skipping");
        return;
    }
    let w = World::new();
    let sub = w.path("sub");
    std::fs::create_dir_all(&sub).unwrap();
    git(&sub, &["init", "-q", "-b", "main"]);
    std::fs::write(sub.join("s"), "in the submodule\n").unwrap();
    git(&sub, &["add", "."]);
    git(&sub, &["commit", "-qm", "s"]);
    let sup = w.path("sup");
    std::fs::create_dir_all(&sup).unwrap();
    git(&sup, &["init", "-q", "-b", "main"]);
    std::fs::write(sup.join("t"), "top\n").unwrap();
    git(
        &sup,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            sub.to_str().unwrap(),
            "sm",
        ],
    );
    git(&sup, &["commit", "-qm", "sup"]);
    // Local submodules need git's file transport, which newer git refuses by default.
    let env = [
        ("GIT_CONFIG_COUNT", "1"),
        ("GIT_CONFIG_KEY_0", "protocol.file.allow"),
        ("GIT_CONFIG_VALUE_0", "always"),
    ];
    let with = format!(
        "builtins.fetchGit {{ url = {}; submodules = true; }}",
        sup.display()
    );
    let without = format!("builtins.fetchGit {}", sup.display());
    let ours_with = ok(w.eval_env("ferrix", &env, &[], &with));
    let ours_without = ok(w.eval_env("ferrix", &env, &[], &without));
    assert!(ours_with.contains("submodules = true;"), "{ours_with}");
    let out = |s: &str| -> PathBuf {
        let p = s
            .split("outPath = \"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        w.path("store-ferrix").join(p.trim_start_matches('/'))
    };
    assert_eq!(
        std::fs::read_to_string(out(&ours_with).join("sm/s")).unwrap(),
        "in the submodule\n"
    );
    assert!(!out(&ours_without).join("sm/s").exists());
    assert!(!out(&ours_with).join("sm/.git").exists());
    if have_nix() {
        assert_eq!(ok(w.eval_env("nix", &env, &[], &with)), ours_with);
        assert_eq!(ok(w.eval_env("nix", &env, &[], &without)), ours_without);
    }
}

/// `user-agent-suffix` ends the `User-Agent` of every download, and `http2 = false` is
/// taken (the client then speaks HTTP/1.1 only, as over plain HTTP anyway).
#[test]
fn user_agent_suffix_is_sent() {
    let w = World::new();
    let server = Server::start(b"agent\n".to_vec(), "\"a\"");
    let url = format!("{}/agent.txt", server.base);
    let expr = format!("builtins.fetchurl {}", quote(&url));
    let out = ok(w.eval(
        "ferrix",
        &[
            "--option",
            "user-agent-suffix",
            "test-suffix/1",
            "--option",
            "http2",
            "false",
        ],
        &expr,
    ));
    let path = out.trim().trim_matches('"').to_string();
    let real = w.path("store-ferrix").join(path.trim_start_matches('/'));
    assert_eq!(std::fs::read_to_string(&real).unwrap(), "agent\n", "{out}");
    let agents = server.state.lock().unwrap().agents.clone();
    assert_eq!(agents.len(), 1, "{agents:?}");
    assert!(
        agents[0].starts_with("ferrix/") && agents[0].ends_with(" test-suffix/1"),
        "{agents:?}"
    );
}

/// `netrc-file`: the credentials of the server's host are sent as basic authentication;
/// without a matching entry nothing is sent.
#[test]
fn netrc_credentials_are_sent() {
    let w = World::new();
    let server = Server::start(b"secret\n".to_vec(), "\"s\"");
    let netrc = w.path("netrc");
    std::fs::write(
        &netrc,
        "machine elsewhere login no password no\nmachine 127.0.0.1 login alice password s3cret\n",
    )
    .unwrap();
    let fetch = |name: &str| {
        format!(
            "builtins.fetchurl {}",
            quote(&format!("{}/{name}", server.base))
        )
    };
    ok(w.eval(
        "ferrix",
        &["--option", "netrc-file", netrc.to_str().unwrap()],
        &fetch("a"),
    ));
    std::fs::write(&netrc, "machine elsewhere login no password no\n").unwrap();
    ok(w.eval(
        "ferrix",
        &["--option", "netrc-file", netrc.to_str().unwrap()],
        &fetch("b"),
    ));
    let auths = server.state.lock().unwrap().auths.clone();
    // "alice:s3cret" in base64.
    assert_eq!(auths, ["Basic YWxpY2U6czNjcmV0", ""], "{auths:?}");
}

fn hg(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("hg")
        .current_dir(dir)
        .args(args)
        .env("HGPLAIN", "")
        .env("HGUSER", "T <t@example.org>")
        .env("HGRCPATH", "")
        .output()
        .expect("run hg");
    assert!(
        o.status.success(),
        "hg {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// `fetchMercurial` gives Nix 2.8's paths and attributes: the default branch, a branch by
/// name, a revision with a name, a clone reused from the cache, a working tree with
/// changes (all-zero revision, `allow-dirty`), and Nix's errors.
#[test]
fn fetch_mercurial_as_nix() {
    if Command::new("hg").arg("--version").output().is_err() {
        eprintln!("note: hg (Mercurial) is not installed; skipping");
        return;
    }
    let w = World::new();
    let repo = w.path("hgrepo");
    std::fs::create_dir_all(repo.join("sub")).unwrap();
    hg(&repo, &["init", "-q"]);
    std::fs::write(repo.join("a"), "a\n").unwrap();
    std::fs::write(repo.join("sub/b"), "b\n").unwrap();
    hg(&repo, &["add", "-q", "a", "sub/b"]);
    hg(&repo, &["commit", "-q", "-m", "one", "-d", "1000000 0"]);
    let first = hg(&repo, &["log", "-r", ".", "--template", "{node}"]);
    std::fs::write(repo.join("c"), "c\n").unwrap();
    hg(&repo, &["add", "-q", "c"]);
    hg(&repo, &["commit", "-q", "-m", "two", "-d", "1000100 0"]);
    hg(&repo, &["branch", "-q", "feature"]);
    std::fs::write(repo.join("d"), "d\n").unwrap();
    hg(&repo, &["add", "-q", "d"]);
    hg(&repo, &["commit", "-q", "-m", "three", "-d", "1000200 0"]);
    hg(&repo, &["update", "-q", "default"]);
    let r = repo.display();
    let exprs = [
        format!("builtins.fetchMercurial {r}"),
        format!("builtins.fetchMercurial {{ url = {r}; rev = \"feature\"; }}"),
        format!(
            "builtins.fetchMercurial {{ url = \"file://{r}\"; rev = \"{first}\"; name = \"x\"; }}"
        ),
    ];
    let ours: Vec<String> = exprs.iter().map(|e| ok(w.eval("ferrix", &[], e))).collect();
    assert!(
        ours[0].contains("branch = \"default\";") && ours[0].contains("revCount = 1;"),
        "{}",
        ours[0]
    );
    assert!(
        ours[1].contains("branch = \"feature\";") && ours[1].contains("revCount = 2;"),
        "{}",
        ours[1]
    );
    assert!(
        ours[2].contains(&format!("shortRev = \"{}\";", &first[..12])) && ours[2].contains("-x\";"),
        "{}",
        ours[2]
    );
    let clones = w.path("home-ferrix/cache/nix/hg");
    assert_eq!(std::fs::read_dir(&clones).unwrap().count(), 1, "one clone");
    // The archive has the files of the revision and not Mercurial's own.
    let out = ours[1]
        .split("outPath = \"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    let real = w.path("store-ferrix").join(out.trim_start_matches('/'));
    assert!(real.join("d").exists() && real.join("sub/b").exists());
    assert!(!real.join(".hg_archival.txt").exists() && !real.join(".hg").exists());
    let errors = [
        format!("builtins.fetchMercurial {{ url = {r}; foo = 1; }}"),
        "builtins.fetchMercurial { rev = \"default\"; }".to_string(),
    ];
    let our_errors: Vec<String> = errors
        .iter()
        .map(|e| fails(w.eval("ferrix", &[], e)))
        .collect();
    assert!(our_errors[0].contains("unsupported argument 'foo' to 'fetchMercurial'"));
    assert!(our_errors[1].contains("'url' argument required"));
    // Uncommitted changes: the tracked files as they are, with the all-zero revision.
    std::fs::write(repo.join("a"), "changed\n").unwrap();
    std::fs::write(repo.join("untracked"), "no\n").unwrap();
    let dirty = ok(w.eval("ferrix", &[], &exprs[0]));
    assert!(
        dirty.contains(&format!("rev = \"{}\";", "0".repeat(40))),
        "{dirty}"
    );
    let refused = fails(w.eval("ferrix", &["--option", "allow-dirty", "false"], &exprs[0]));
    assert!(
        refused.contains(&format!("Mercurial tree '{r}' is unclean")),
        "{refused}"
    );
    if have_nix() {
        assert_eq!(ok(w.eval("nix", &[], &exprs[0])), dirty);
        assert_eq!(
            fails(w.eval("nix", &["--option", "allow-dirty", "false"], &exprs[0])),
            refused
        );
        hg(&repo, &["revert", "-q", "--no-backup", "a"]);
        for (e, c) in exprs.iter().zip(&ours) {
            assert_eq!(&ok(w.eval("nix", &[], e)), c, "{e}");
        }
        for (e, c) in errors.iter().zip(&our_errors) {
            assert_eq!(&fails(w.eval("nix", &[], e)), c, "{e}");
        }
    }
}
