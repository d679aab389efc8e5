//! The store under pressure and under attack, against Nix 2.8 where it is installed:
//!
//! - concurrent writers (parallel `instantiate`, `--add` and builds into one store, with
//!   Nix 2.8 writing to it at the same time) all succeed, leave nothing unregistered, and
//!   Nix's `--verify --check-contents` passes;
//! - forged and malformed `.drv` files are refused at `--add`, at `--import` and before a
//!   build, with Nix's messages;
//! - a Nix 2.8 build and a Ferrix build into one store at the same time both succeed (they
//!   share the build-user pool and its locks).
//!
//! Every store is a chroot store in a temporary directory, and `NIX_STATE_DIR` (where the
//! build-user pool lives) and `NIX_CONF_DIR` point into it too: nothing touches `/nix`.

use ferrix_store::db::{Db, PathInfo};
use ferrix_store::local::hash_path;
use ferrix_store::{LocalConfig, LocalStore, Store, StoreDir, StorePath};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_ferrix");
const ROUNDS: usize = 10;
const SANDBOX: [&str; 6] = [
    "--option",
    "sandbox",
    "true",
    "--option",
    "sandbox-paths",
    "/bin/sh=/bin/busybox",
];

/// The global state directory (`NIX_STATE_DIR`, where the build-user pool is) of every
/// command of this test binary. It must be one for all the tests that run at once: with
/// two pools, Nix and Ferrix could take the same build user, and Nix kills the processes of
/// its build user before it builds.
fn global_state() -> &'static Path {
    static STATE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    STATE.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

/// A temporary world: an empty configuration directory, a home and stores, under one
/// directory.
struct World {
    tmp: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let tmp = tempfile::tempdir().unwrap();
        for d in ["conf", "home"] {
            std::fs::create_dir_all(tmp.path().join(d)).unwrap();
        }
        World { tmp }
    }

    fn path(&self) -> &Path {
        self.tmp.path()
    }

    fn store(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    /// `program` with only this world's settings.
    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        for v in ["NIX_REMOTE", "NIX_STORE_DIR", "NIX_LOG_DIR", "NIX_PATH"] {
            c.env_remove(v);
        }
        c.env("NIX_STATE_DIR", global_state())
            .env("NIX_CONF_DIR", self.path().join("conf"))
            .env("HOME", self.path().join("home"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// `ferrix SUB --store STORE ARGS`, offline (no substituters), as Nix below.
    fn ferrix(&self, sub: &str, store: &Path, args: &[&str]) -> Command {
        let mut c = self.cmd(BIN);
        c.args([sub, "--store", store.to_str().unwrap()])
            .args(["--option", "substituters", ""])
            .args(args);
        c
    }

    /// A Nix 2.8 command on `store`, offline.
    fn nix(&self, program: &str, store: &Path, args: &[&str]) -> Command {
        let mut c = self.cmd(program);
        c.args(["--store", store.to_str().unwrap()])
            .args(["--option", "substituters", ""])
            .args(args);
        c
    }
}

fn have_nix() -> bool {
    let ok = Command::new("nix-store")
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(" 2.8."));
    if !ok {
        eprintln!("note: Nix 2.8 is not installed; skipping the parts with Nix");
    }
    ok
}

fn busybox() -> bool {
    let ok = Path::new("/bin/busybox").exists();
    if !ok {
        eprintln!("skipping: /bin/busybox (busybox-static) is not installed");
    }
    ok
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn run(mut c: Command) -> Output {
    c.output().expect("run")
}

/// Starts all `cmds` at once and returns what failed (with its output).
fn all_at_once(cmds: Vec<(String, Command)>) -> Vec<String> {
    let children: Vec<(String, Child)> = cmds
        .into_iter()
        .map(|(what, mut c)| (what, c.spawn().expect("spawn")))
        .collect();
    let mut failed = Vec::new();
    for (what, child) in children {
        let o = child.wait_with_output().unwrap();
        if !o.status.success() {
            failed.push(format!("{what}: {}", text(&o)));
        }
    }
    failed
}

fn open_read_only(store: &Path) -> LocalStore {
    LocalStore::open(LocalConfig {
        store_dir: StoreDir::default(),
        real_dir: store.join("nix/store"),
        state_dir: store.join("nix/var/nix"),
        log_dir: store.join("nix/var/log/nix"),
        read_only: true,
        case_hack: false,
        fsync: false,
        fsync_metadata: true,
        system_features: None,
    })
    .unwrap()
}

/// Everything in the store directory is registered (no temporaries, no unregistered
/// copies, no lock files left), and both Nix's and Ferrix's `--verify --check-contents`
/// pass.
fn assert_clean(w: &World, store: &Path, nix: bool) {
    let s = open_read_only(store);
    let mut strays = Vec::new();
    let mut count = 0;
    for e in std::fs::read_dir(store.join("nix/store")).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        if name == ".links" {
            continue;
        }
        count += 1;
        match StorePath::from_base_name(&name) {
            Ok(p) if s.is_valid(&p).unwrap() => {}
            _ => strays.push(name),
        }
    }
    assert!(strays.is_empty(), "unregistered entries: {strays:?}");
    assert!(count > 0);
    let o = run(w.ferrix("store", store, &["--verify", "--check-contents"]));
    assert!(
        o.status.success() && !stderr(&o).contains("error"),
        "{}",
        text(&o)
    );
    if nix {
        let o = run(w.nix("nix-store", store, &["--verify", "--check-contents"]));
        assert!(
            o.status.success() && !stderr(&o).contains("error"),
            "{}",
            text(&o)
        );
    }
}

fn expr(name: &str) -> String {
    format!(
        "derivation {{ name = \"{name}\"; system = \"x86_64-linux\"; builder = \"/bin/sh\"; \
         args = [ \"-c\" \"echo {name} > $out\" ]; }}"
    )
}

#[test]
fn parallel_instantiates_all_succeed() {
    let w = World::new();
    let nix = have_nix();
    let store = w.store("s");
    let mut failures = Vec::new();
    for round in 0..ROUNDS {
        let mut cmds = Vec::new();
        for i in 0..8 {
            let name = format!("f-{round}-{i}");
            let c = w.ferrix("instantiate", &store, &["-E", &expr(&name)]);
            cmds.push((name, c));
        }
        if nix {
            for i in 0..2 {
                let name = format!("n-{round}-{i}");
                let c = w.nix("nix-instantiate", &store, &["-E", &expr(&name)]);
                cmds.push((name, c));
            }
        }
        failures.extend(all_at_once(cmds));
    }
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_clean(&w, &store, nix);
}

#[test]
fn parallel_adds_all_succeed() {
    let w = World::new();
    let nix = have_nix();
    let store = w.store("s");
    let src = w.path().join("src");
    let mut failures = Vec::new();
    for round in 0..ROUNDS {
        // Every process adds a tree of its own and the round's shared tree, so that some
        // add one path at the same time.
        let shared = src.join(format!("shared-{round}"));
        std::fs::create_dir_all(shared.join("sub")).unwrap();
        std::fs::write(shared.join("sub/f"), format!("shared {round}\n")).unwrap();
        let mut cmds = Vec::new();
        for i in 0..10 {
            let own = src.join(format!("own-{round}-{i}"));
            std::fs::create_dir_all(&own).unwrap();
            for j in 0..20 {
                std::fs::write(own.join(format!("f{j}")), format!("{round} {i} {j}\n")).unwrap();
            }
            let args = [own.to_str().unwrap(), shared.to_str().unwrap()];
            let what = format!("add {round} {i}");
            if i < 8 {
                cmds.push((
                    what,
                    w.ferrix("store", &store, &[&["--add"][..], &args].concat()),
                ));
            } else if nix {
                cmds.push((
                    what,
                    w.nix("nix-store", &store, &[&["--add"][..], &args].concat()),
                ));
            }
        }
        failures.extend(all_at_once(cmds));
    }
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_clean(&w, &store, nix);
}

fn overlap_build(w: &World, store: &Path, round: &str, top: &str, sleep: &str) -> Command {
    let mut args = SANDBOX.to_vec();
    args.extend([
        "tests/integrity/overlap.nix",
        "--argstr",
        "round",
        round,
        "--argstr",
        "top",
        top,
        "--argstr",
        "sleep",
        sleep,
        "--no-out-link",
    ]);
    w.ferrix("build", store, &args)
}

fn nix_overlap_build(w: &World, store: &Path, round: &str, top: &str, sleep: &str) -> Command {
    let mut args = SANDBOX.to_vec();
    args.extend([
        "tests/integrity/overlap.nix",
        "--argstr",
        "round",
        round,
        "--argstr",
        "top",
        top,
        "--argstr",
        "sleep",
        sleep,
        "--no-out-link",
    ]);
    w.nix("nix-build", store, &args)
}

#[test]
fn parallel_builds_of_overlapping_graphs_all_succeed() {
    if !busybox() {
        return;
    }
    let w = World::new();
    let nix = have_nix();
    let store = w.store("s");
    let mut failures = Vec::new();
    for round in 0..ROUNDS {
        let r = round.to_string();
        let mut cmds = Vec::new();
        for top in 0..4 {
            let t = top.to_string();
            cmds.push((
                format!("build {r} {t}"),
                overlap_build(&w, &store, &r, &t, "0"),
            ));
        }
        if nix {
            cmds.push((
                format!("nix-build {r}"),
                nix_overlap_build(&w, &store, &r, "nix", "0"),
            ));
        }
        failures.extend(all_at_once(cmds));
    }
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_clean(&w, &store, nix);
}

#[test]
fn nix_and_ferrix_build_into_one_store_at_once() {
    if !busybox() || !have_nix() {
        return;
    }
    let w = World::new();
    let store = w.store("s");
    // Ferrix's builder runs for a while; Nix starts its own build meanwhile. With separate
    // build-user pools both would take the first user, and Nix kills that user's
    // processes before it builds.
    let f = overlap_build(&w, &store, "mixed", "ferrix", "3")
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let n = run(nix_overlap_build(&w, &store, "mixed", "nix", "1"));
    let f_out = f.wait_with_output().unwrap();
    assert!(n.status.success(), "nix-build: {}", text(&n));
    assert!(f_out.status.success(), "ferrix build: {}", text(&f_out));
    assert_clean(&w, &store, true);
}

#[test]
fn build_users_share_nix_pool() {
    // The pool is in the global state directory, whatever the store.
    std::env::set_var("NIX_STATE_DIR", global_state());
    assert_eq!(
        ferrix_builder::users::pool_dir(),
        global_state().join("userpool")
    );
}

// ---- derivations ----

/// Writes `text` as `<dir>/<name>` and returns its path.
fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Puts `file` into `store` as `--add` would, but registers it without any check, as an
/// older Ferrix did: a store that already holds a forged or malformed derivation.
fn smuggle(store: &Path, file: &Path) -> String {
    let name = file.file_name().unwrap().to_str().unwrap();
    let dir = StoreDir::default();
    let (p, _) = ferrix_store::store::content_path(
        &dir,
        name,
        file,
        ferrix_store::path::Ingestion::Recursive,
        ferrix_store::HashAlgo::Sha256,
        &mut |_| Ok(true),
    )
    .unwrap();
    let real = store.join("nix/store");
    std::fs::create_dir_all(&real).unwrap();
    let real_path = real.join(p.base_name());
    std::fs::copy(file, &real_path).unwrap();
    let (hash, size) = hash_path(&real_path, false).unwrap();
    let db_dir = store.join("nix/var/nix/db");
    std::fs::create_dir_all(&db_dir).unwrap();
    let mut db = Db::open(&db_dir, &dir, true, true).unwrap();
    db.register(&[PathInfo::new(p.clone(), hash, size)], &BTreeMap::new())
        .unwrap();
    dir.display(&p)
}

/// Stderr with the store's root written as `<root>`, to compare stores in different
/// places.
fn rooted(o: &Output, store: &Path) -> String {
    stderr(o).replace(store.to_str().unwrap(), "<root>")
}

/// What happens to one `.drv` at `--add`, `--import` and build, in Ferrix and in Nix.
struct Refusal {
    /// Ferrix's stderr (rooted) at `--add`, `--import` and build.
    add: String,
    import: String,
    build: String,
}

fn refusals(w: &World, kind: &str, file: &Path, nix: bool) -> Refusal {
    let fresh = |what: &str| w.store(&format!("{kind}-{what}"));
    let arg = file.to_str().unwrap();
    // --add
    let s = fresh("add");
    let add = run(w.ferrix("store", &s, &["--add", arg]));
    assert_eq!(add.status.code(), Some(1), "{kind}: {}", text(&add));
    let stray: Vec<_> = std::fs::read_dir(s.join("nix/store"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != ".links")
        .collect();
    assert!(stray.is_empty(), "{kind}: left behind {stray:?}");
    if nix {
        let n = fresh("nix-add");
        let o = run(w.nix("nix-store", &n, &["--add", arg]));
        assert_eq!(o.status.code(), Some(1), "{kind}: {}", text(&o));
        assert_eq!(rooted(&add, &s), rooted(&o, &n), "{kind} at --add");
    }
    // --import of an export made from a store that holds it already.
    let old = fresh("old");
    let p = smuggle(&old, file);
    let export = run(w.ferrix("store", &old, &["--export", &p]));
    assert!(export.status.success(), "{}", text(&export));
    let import = |mut c: Command| {
        c.stdin(Stdio::piped());
        let mut child = c.spawn().unwrap();
        use std::io::Write;
        let _ = child.stdin.take().unwrap().write_all(&export.stdout);
        child.wait_with_output().unwrap()
    };
    let s = fresh("import");
    let imp = import(w.ferrix("store", &s, &["--import"]));
    assert_eq!(imp.status.code(), Some(1), "{kind}: {}", text(&imp));
    if nix {
        let n = fresh("nix-import");
        let o = import(w.nix("nix-store", &n, &["--import"]));
        assert_eq!(o.status.code(), Some(1), "{kind}: {}", text(&o));
        assert_eq!(rooted(&imp, &s), rooted(&o, &n), "{kind} at --import");
    }
    // A build of it, where it is valid already.
    let mut args = SANDBOX.to_vec();
    args.extend([p.as_str(), "--no-out-link"]);
    let b = run(w.ferrix("build", &old, &args));
    assert_eq!(b.status.code(), Some(1), "{kind}: {}", text(&b));
    Refusal {
        add: rooted(&add, &fresh("add")),
        import: rooted(&imp, &s),
        build: rooted(&b, &old),
    }
}

/// The legitimate derivation `victim.drv` and its output path, from `ferrix instantiate`.
fn victim(w: &World) -> (String, String) {
    let s = w.store("victim");
    let e = "derivation { name = \"victim\"; system = \"x86_64-linux\"; builder = \"/bin/sh\"; \
             args = [ \"-c\" \"echo legit > $out\" ]; }";
    let o = run(w.ferrix("instantiate", &s, &["-E", e]));
    assert!(o.status.success(), "{}", text(&o));
    let drv = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let base = drv.strip_prefix("/nix/store/").unwrap();
    let t = std::fs::read_to_string(s.join("nix/store").join(base)).unwrap();
    let out = run(w.ferrix("store", &s, &["-q", "--outputs", &drv]));
    (t, String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn forged_drv_is_refused_at_add_import_and_build() {
    let w = World::new();
    let nix = have_nix();
    let (legit, out) = victim(&w);
    // Same output path, other content.
    let forged = legit.replace("echo legit", "echo evil");
    assert_ne!(forged, legit);
    let file = write_file(&w.path().join("forged"), "victim.drv", &forged);
    let r = refusals(&w, "forged", &file, nix);
    let want = format!("has incorrect output '{out}', should be '/nix/store/");
    for (at, e) in [("add", &r.add), ("import", &r.import), ("build", &r.build)] {
        assert!(e.starts_with("error: derivation '/nix/store/"), "{at}: {e}");
        assert!(e.contains(&want), "{at}: {e}");
    }
    // Nothing was built into the legitimate path.
    let old = w.store("forged-old");
    let base = out.strip_prefix("/nix/store/").unwrap();
    assert!(!old.join("nix/store").join(base).exists());

    // A wrong environment variable with right output paths; a variable that is no store
    // path at all.
    let other = "/nix/store/vjy2vjk0kyviqk7gnyxg87403bjyiq39-victim";
    for (kind, value, want) in [
        (
            "env",
            other,
            format!("has incorrect environment variable 'out', should be '{out}'\n"),
        ),
        (
            "env-short",
            "/nix/store/x",
            "error: 'x' is too short to be a valid store path\n".to_string(),
        ),
    ] {
        let env = legit.replacen(
            &format!("(\"out\",\"{out}\")"),
            &format!("(\"out\",\"{value}\")"),
            1,
        );
        assert_ne!(env, legit);
        let file = write_file(&w.path().join(kind), "victim.drv", &env);
        let r = refusals(&w, kind, &file, nix);
        assert!(r.add.ends_with(&want), "{kind}: {}", r.add);
    }
}

#[test]
fn malformed_drvs_are_refused_where_nix_refuses_them() {
    let w = World::new();
    let nix = have_nix();
    let v = "/nix/store/vjy2vjk0kyviqk7gnyxg87403bjyiq39-victim";
    let fo = "/nix/store/vjy2vjk0kyviqk7gnyxg87403bjyiq39-fo";
    let missing = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-missing.drv";
    let cases: Vec<(&str, &str, String, &str)> = vec![
        (
            "unknown-algo",
            "fo.drv",
            format!("Derive([(\"out\",\"{fo}\",\"foo\",\"abcd\")],[],[],\"x86_64-linux\",\"/bin/sh\",[],[(\"out\",\"{fo}\")])"),
            "error: unknown hash algorithm 'foo'\nTry 'nix-store --help' for more information.\n",
        ),
        (
            "bad-hash",
            "fo.drv",
            format!("Derive([(\"out\",\"{fo}\",\"sha256\",\"abcd\")],[],[],\"x86_64-linux\",\"/bin/sh\",[],[(\"out\",\"{fo}\")])"),
            "error: hash 'abcd' has wrong length for hash type 'sha256'\n",
        ),
        (
            "missing-input",
            "victim.drv",
            format!("Derive([(\"out\",\"{v}\",\"\",\"\")],[(\"{missing}\",[\"out\"])],[],\"x86_64-linux\",\"/bin/sh\",[],[(\"out\",\"{v}\")])"),
            "error: opening file '<root>/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-missing.drv': No such file or directory\n",
        ),
        (
            "non-store-source",
            "victim.drv",
            format!("Derive([(\"out\",\"{v}\",\"\",\"\")],[],[\"/tmp/foo\"],\"x86_64-linux\",\"/bin/sh\",[],[(\"out\",\"{v}\")])"),
            "error: path '/tmp/foo' is not in the Nix store\n",
        ),
    ];
    for (kind, name, drv, want) in &cases {
        let file = write_file(&w.path().join(kind), name, drv);
        let r = refusals(&w, kind, &file, nix);
        assert_eq!(r.add, *want, "{kind} at --add");
        assert_eq!(r.import, *want, "{kind} at --import");
        // At build, the same first line (Nix 2.8 may say more before it).
        let first = want.lines().next().unwrap();
        assert!(r.build.contains(first), "{kind} at build: {}", r.build);
    }

    // A string that never ends: Nix 2.8 runs out of memory on it; Ferrix refuses it.
    let file = write_file(
        &w.path().join("unterminated"),
        "victim.drv",
        &format!("Derive([(\"out\",\"{v}\",\"\",\"\")],[],[],\"x86_64-linux\",\"/bin/sh\",[\"-c\",\"echo \\"),
    );
    let o = run(w.ferrix(
        "store",
        &w.store("unterminated"),
        &["--add", file.to_str().unwrap()],
    ));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        stderr(&o).starts_with("error: error parsing derivation '/nix/store/"),
        "{}",
        text(&o)
    );

    // An escape Nix does not know (`\$`) stands for the character itself, in Nix and in
    // Ferrix: the derivation is accepted, at the same path.
    let (legit, _) = victim(&w);
    let escaped = legit.replace("$out", "\\$out");
    assert_ne!(escaped, legit);
    let file = write_file(&w.path().join("escape"), "victim.drv", &escaped);
    let o = run(w.ferrix(
        "store",
        &w.store("escape"),
        &["--add", file.to_str().unwrap()],
    ));
    assert!(o.status.success(), "{}", text(&o));
    if nix {
        let n = run(w.nix(
            "nix-store",
            &w.store("escape-nix"),
            &["--add", file.to_str().unwrap()],
        ));
        assert!(n.status.success(), "{}", text(&n));
        assert_eq!(n.stdout, o.stdout);
    }
}
