//! The garbage collector against Nix 2.8, on copies of one chroot store that both built and
//! filled: symlink roots, a regular-file root, indirect roots (`-o`, `--add-root
//! --indirect`), a temporary root of a live process, derivations with outputs, optimised
//! (hard-linked) files and garbage that is no store path. Every store is a temporary chroot
//! store; nothing touches the machine's `/nix`.
//!
//! The tests skip (with a note) when `nix-store` or the sandbox's busybox is missing.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

const BIN: &str = env!("CARGO_BIN_EXE_ferrix");
const SANDBOX: [&str; 6] = [
    "--option",
    "sandbox",
    "true",
    "--option",
    "sandbox-paths",
    "/bin/sh=/bin/busybox",
];

const EXPR: &str = r#"
let
  a = builtins.toFile "a" "plain";
  b = builtins.toFile "b" "refers ${a}";
  mk = name: script: derivation {
    inherit name; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" script ];
  };
  dep = mk "dep" "echo dep > $out";
  big = mk "big" "i=0; while [ $i -lt 4000 ]; do echo line $i of the live padding; i=$((i+1)); done > $out";
in {
  top = mk "top" "mkdir $out; echo ${dep} > $out/ref; cat ${b} > $out/b; echo same > $out/dup";
  lone = mk "lone" "mkdir $out; echo lone > $out/x; echo same > $out/dup; ln -s x $out/l; i=0; while [ $i -lt 20000 ]; do echo dead line $i; i=$((i+1)); done > $out/pad";
  usesbig = mk "usesbig" "echo ${big} > $out";
  multi = derivation {
    name = "multi"; system = "x86_64-linux"; builder = "/bin/sh"; outputs = [ "out" "dev" ];
    args = [ "-c" "echo o > $out; echo ${dep} > $dev" ];
  };
}
"#;

/// A command with the store environment cleared, so that only `--store` decides; builds
/// take their build users from `state`.
fn cmd(program: &str, state: &Path) -> Command {
    let mut c = Command::new(program);
    for v in ["NIX_REMOTE", "NIX_STORE_DIR", "NIX_LOG_DIR", "NIX_PATH"] {
        c.env_remove(v);
    }
    c.env("NIX_STATE_DIR", state);
    c.stdin(Stdio::null());
    c
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn ok(o: Output) -> String {
    assert!(o.status.success(), "failed ({:?}): {}", o.status, err(&o));
    text(&o)
}

/// The store built once for all tests, and the paths in it.
struct Fixture {
    _dir: tempfile::TempDir,
    /// The chroot store.
    store: PathBuf,
    /// `NIX_STATE_DIR` for every command (build users, never the machine's).
    state: PathBuf,
    top: String,
    lone: String,
    lone_drv: String,
    f1: String,
    f2: String,
}

fn nix_present() -> bool {
    Command::new("nix-store")
        .arg("--version")
        .output()
        .is_ok_and(|o| text(&o).contains(" 2.8."))
}

fn fixture() -> Option<&'static Fixture> {
    static F: OnceLock<Option<Fixture>> = OnceLock::new();
    F.get_or_init(|| {
        if !nix_present() || !Path::new("/bin/busybox").exists() {
            eprintln!("note: Nix 2.8 or /bin/busybox is missing; skipping the GC comparison");
            return None;
        }
        Some(build_fixture())
    })
    .as_ref()
}

fn build_fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let store = d.join("store");
    let state = d.join("state");
    fs::create_dir_all(&state).unwrap();
    let expr = d.join("t.nix");
    fs::write(&expr, EXPR).unwrap();
    let e = expr.to_str().unwrap();
    let s = store.to_str().unwrap();
    let nix_build = |args: &[&str]| {
        ok(cmd("nix-build", &state)
            .args(["--store", s])
            .args(SANDBOX)
            .args(["--option", "substituters", ""])
            .args(args)
            .output()
            .unwrap())
        .trim()
        .to_string()
    };
    let ferrix_build = |args: &[&str]| {
        ok(cmd(BIN, &state)
            .args(["build", "--store", s])
            .args(SANDBOX)
            .args(["--option", "substituters", ""])
            .args(args)
            .output()
            .unwrap())
        .trim()
        .to_string()
    };
    // Indirect roots through `-o`, by both.
    let top = nix_build(&[e, "-A", "top", "-o", d.join("result-top").to_str().unwrap()]);
    ferrix_build(&[
        e,
        "-A",
        "usesbig",
        "-o",
        d.join("result-big").to_str().unwrap(),
    ]);
    // Dead outputs.
    let lone = ferrix_build(&[e, "-A", "lone", "--no-out-link"]);
    let multi = nix_build(&[e, "-A", "multi", "--no-out-link"]);
    let fstore = |args: &[&str]| {
        ok(cmd(BIN, &state)
            .args(["store", "--store", s])
            .args(args)
            .output()
            .unwrap())
        .trim()
        .to_string()
    };
    let nstore = |args: &[&str]| {
        ok(cmd("nix-store", &state)
            .args(["--store", s])
            .args(args)
            .output()
            .unwrap())
        .trim()
        .to_string()
    };
    let lone_drv = fstore(&["-q", "--deriver", &lone]);
    let multi_drv = nstore(&["-q", "--deriver", &multi]);
    let src = d.join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("f1"), "a regular-file root\n").unwrap();
    fs::write(src.join("f2"), "dead unless a temp root\n").unwrap();
    let f1 = fstore(&["--add", src.join("f1").to_str().unwrap()]);
    let f2 = nstore(&["--add", src.join("f2").to_str().unwrap()]);
    // A big dead file that optimising links into .links (two links).
    let blob: Vec<u8> = (0..1_234_567u32).map(|i| (i * 7 % 251) as u8).collect();
    fs::write(src.join("blob1"), &blob).unwrap();
    fstore(&["--add", src.join("blob1").to_str().unwrap()]);
    let gcroots = store.join("nix/var/nix/gcroots");
    // A regular file named after a store path.
    fs::write(gcroots.join(f1.trim_start_matches("/nix/store/")), "").unwrap();
    // A symlink root in a subdirectory.
    fs::create_dir_all(gcroots.join("per-user/me")).unwrap();
    std::os::unix::fs::symlink(&multi_drv, gcroots.join("per-user/me/drv")).unwrap();
    // An indirect root made by --add-root --indirect.
    nstore(&[
        "-r",
        &multi,
        "--add-root",
        d.join("ind-multi").to_str().unwrap(),
        "--indirect",
    ]);
    nstore(&["--optimise"]);
    // Garbage added after optimising: a big unlinked file, an entry that is no store
    // path, and an invalid store path directory.
    let blob2: Vec<u8> = (0..2_345_678u32).map(|i| (i * 13 % 241) as u8).collect();
    fs::write(src.join("blob2"), &blob2).unwrap();
    nstore(&["--add", src.join("blob2").to_str().unwrap()]);
    let real = store.join("nix/store");
    fs::write(real.join("not-a-store-path"), vec![b'j'; 300_000]).unwrap();
    let inv = real.join("00000000000000000000000000000000-invalid");
    fs::create_dir_all(inv.join("d")).unwrap();
    fs::write(inv.join("d/f"), vec![b'i'; 100_000]).unwrap();
    Fixture {
        _dir: dir,
        store,
        state,
        top,
        lone,
        lone_drv,
        f1,
        f2,
    }
}

/// A copy of the fixture's store (`cp -a`, keeping hard links).
fn copy(f: &Fixture, to: &Path) -> PathBuf {
    fs::create_dir_all(to).unwrap();
    let dst = to.join("store");
    let st = Command::new("cp")
        .args(["-a"])
        .arg(&f.store)
        .arg(&dst)
        .status()
        .unwrap();
    assert!(st.success());
    dst
}

fn nix(f: &Fixture, store: &Path, args: &[&str]) -> Output {
    cmd("nix-store", &f.state)
        .args(["--store", store.to_str().unwrap()])
        .args(["--option", "substituters", ""])
        .args(args)
        .output()
        .unwrap()
}

fn ferrix(f: &Fixture, store: &Path, args: &[&str]) -> Output {
    cmd(BIN, &f.state)
        .args(["store", "--store", store.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap()
}

/// Holds a temporary roots file for `p` in `store`, as a live process does, while the
/// returned lock lives.
fn temp_root(store: &Path, p: &str) -> nix::fcntl::Flock<fs::File> {
    let dir = store.join("nix/var/nix/temproots");
    fs::create_dir_all(&dir).unwrap();
    let file = dir.join(std::process::id().to_string());
    let f = ferrix_store::lock::open_lock_file(&file).unwrap();
    let mut l = ferrix_store::lock::lock_file(f, true, true)
        .unwrap()
        .unwrap();
    std::io::Write::write_all(&mut *l, format!("{p}\0").as_bytes()).unwrap();
    l
}

/// The entries of the real store directory and of `.links`.
fn entries(store: &Path) -> (Vec<String>, Vec<String>) {
    let list = |d: PathBuf| {
        let mut v: Vec<String> = fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let real = store.join("nix/store");
    (list(real.clone()), list(real.join(".links")))
}

/// `text` with the copy's directory replaced, to compare what two copies print.
fn norm(s: &str, store: &Path) -> String {
    s.replace(store.to_str().unwrap(), "STORE")
}

#[test]
fn print_roots_live_and_dead_equal_nix() {
    let Some(f) = fixture() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let a = copy(f, &tmp.path().join("a"));
    let b = copy(f, &tmp.path().join("b"));
    let _ta = temp_root(&a, &f.f2);
    let _tb = temp_root(&b, &f.f2);
    for args in [
        vec!["--gc", "--print-roots"],
        vec!["--gc", "--print-live"],
        vec!["--gc", "--print-dead"],
        vec![
            "--gc",
            "--print-dead",
            "--option",
            "keep-derivations",
            "false",
        ],
        vec!["--gc", "--print-live", "--option", "keep-outputs", "true"],
        vec!["--gc", "--print-dead", "--option", "keep-outputs", "true"],
    ] {
        let n = nix(f, &a, &args);
        let r = ferrix(f, &b, &args);
        assert!(n.status.success(), "{args:?}: {}", err(&n));
        assert!(r.status.success(), "{args:?}: {}", err(&r));
        assert_eq!(norm(&text(&r), &b), norm(&text(&n), &a), "{args:?}");
        assert_eq!(norm(&err(&r), &b), norm(&err(&n), &a), "{args:?}");
    }
    // The sets are what the roots make them.
    let live = text(&ferrix(f, &b, &["--gc", "--print-live"]));
    let dead = text(&ferrix(f, &b, &["--gc", "--print-dead"]));
    for p in [&f.top, &f.f1, &f.f2] {
        assert!(live.lines().any(|l| l == p), "{p} not live:\n{live}");
    }
    for p in [&f.lone, &f.lone_drv] {
        assert!(dead.lines().any(|l| l == p), "{p} not dead:\n{dead}");
    }
    let roots = text(&ferrix(f, &b, &["--gc", "--print-roots"]));
    assert!(
        roots.contains(&format!("{{temp:{}}} -> {}", std::process::id(), f.f2)),
        "{roots}"
    );
}

#[test]
fn gc_deletes_what_nix_deletes_with_the_same_figure() {
    let Some(f) = fixture() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let a = copy(f, &tmp.path().join("a"));
    let b = copy(f, &tmp.path().join("b"));
    let n = nix(f, &a, &["--gc"]);
    let r = ferrix(f, &b, &["--gc"]);
    let line = ok(n);
    assert_eq!(ok(r), line);
    // 6 dead valid paths (lone, its .drv, f2, the two blobs, multi's dev output), the
    // invalid directory and the entry that is no store path. The figure counts the blob
    // that optimising linked (two links) as Nix 2.8 does: 4.09 MiB, not 2.91.
    assert_eq!(line, "8 store paths deleted, 4.09 MiB freed\n");
    assert_eq!(entries(&b), entries(&a));
    let v = nix(f, &b, &["--verify", "--check-contents"]);
    assert!(v.status.success(), "{}", err(&v));
    assert!(!err(&v).contains("error"), "{}", err(&v));
    // The roots' closures are all there.
    assert_eq!(
        ok(ferrix(f, &b, &["-qR", &f.top])),
        ok(nix(f, &a, &["-qR", &f.top]))
    );
    // A second run finds nothing.
    assert_eq!(
        ok(ferrix(f, &b, &["--gc"])),
        "0 store paths deleted, 0.00 MiB freed\n"
    );
}

#[test]
fn max_freed_stops_early_as_nix_does() {
    let Some(f) = fixture() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let a = copy(f, &tmp.path().join("a"));
    let b = copy(f, &tmp.path().join("b"));
    let args = ["--gc", "--max-freed", "1K"];
    let n = nix(f, &a, &args);
    let r = ferrix(f, &b, &args);
    let line = ok(r);
    assert_eq!(line, ok(n));
    assert_eq!(entries(&b), entries(&a));
    let deleted: usize = line.split(' ').next().unwrap().parse().unwrap();
    assert!((1..8).contains(&deleted), "{line}");
    let v = nix(f, &b, &["--verify", "--check-contents"]);
    assert!(v.status.success(), "{}", err(&v));
    // --max-freed 0 does nothing at all.
    assert_eq!(
        ok(ferrix(f, &b, &["--gc", "--max-freed", "0"])),
        "0 store paths deleted, 0.00 MiB freed\n"
    );
}

#[test]
fn delete_of_a_live_path_is_refused() {
    let Some(f) = fixture() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let a = copy(f, &tmp.path().join("a"));
    let b = copy(f, &tmp.path().join("b"));
    let n = nix(f, &a, &["--delete", &f.top]);
    let r = ferrix(f, &b, &["--delete", &f.top]);
    assert_eq!(r.status.code(), Some(1));
    assert_eq!(r.status.code(), n.status.code());
    assert_eq!(text(&r), "0 store paths deleted, 0.00 MiB freed\n");
    assert_eq!(text(&r), text(&n));
    assert_eq!(norm(&err(&r), &b), norm(&err(&n), &a));
    assert_eq!(entries(&b), entries(&a));
    // A dead one goes, with its deriver kept only as long as it is needed.
    let n = nix(f, &a, &["--delete", &f.lone]);
    let r = ferrix(f, &b, &["--delete", &f.lone]);
    assert_eq!(ok(r), ok(n));
    assert_eq!(entries(&b), entries(&a));
}

#[test]
fn additions_during_a_collection_keep_their_paths() {
    let Some(f) = fixture() else { return };
    let tmp = tempfile::tempdir().unwrap();
    // Each collector is held after it found its roots (Nix's test hook); meanwhile a
    // Ferrix and a Nix 2.8 process add paths, which must reach it through its socket.
    for collector in ["ferrix", "nix"] {
        let store = copy(f, &tmp.path().join(collector));
        let fifo = tmp.path().join(format!("{collector}.fifo"));
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let mut gc = match collector {
            "ferrix" => {
                let mut c = cmd(BIN, &f.state);
                c.args(["store", "--store", store.to_str().unwrap(), "--gc"]);
                c
            }
            _ => {
                let mut c = cmd("nix-store", &f.state);
                c.args(["--store", store.to_str().unwrap(), "--gc"]);
                c
            }
        };
        let gc = gc
            .env("_NIX_TEST_GC_SYNC", &fifo)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The collector holds the lock once its socket is up.
        let sock = store.join("nix/var/nix/gc-socket/socket");
        let t0 = std::time::Instant::now();
        while !sock.exists() && t0.elapsed().as_secs() < 30 {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        let src = tmp.path().join(format!("new-{collector}"));
        fs::write(&src, format!("added while {collector} collects\n")).unwrap();
        let src2 = tmp.path().join(format!("new2-{collector}"));
        fs::write(&src2, format!("also added while {collector} collects\n")).unwrap();
        let p1 = ok(ferrix(f, &store, &["--add", src.to_str().unwrap()]));
        let p2 = ok(nix(f, &store, &["--add", src2.to_str().unwrap()]));
        fs::write(&fifo, "go").unwrap();
        let out = gc.wait_with_output().unwrap();
        assert!(out.status.success(), "{collector}: {}", err(&out));
        for p in [p1.trim(), p2.trim()] {
            assert_eq!(ok(ferrix(f, &store, &["--check-validity", p])), "");
            assert!(store.join("nix/store").join(&p[11..]).exists());
        }
        // Dead paths went all the same.
        assert!(
            text(&out).starts_with("8 store paths deleted"),
            "{}",
            text(&out)
        );
        let v = nix(f, &store, &["--verify", "--check-contents"]);
        assert!(v.status.success(), "{}", err(&v));
    }
}

#[test]
fn the_links_nothing_uses_are_removed() {
    let Some(f) = fixture() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let b = copy(f, &tmp.path().join("b"));
    ok(ferrix(f, &b, &["--gc"]));
    for e in fs::read_dir(b.join("nix/store/.links")).unwrap() {
        let m = e.unwrap().metadata().unwrap();
        assert!(m.nlink() >= 2);
    }
}
