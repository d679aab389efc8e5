//! The store against Nix 2.8: stores written by one are read and verified by the other,
//! `--dump` and `nix-hash` output are byte-identical, and killing Ferrix while it adds a
//! path never leaves a broken store. Every store here is a chroot store in a temporary
//! directory; nothing touches the machine's `/nix`.
//!
//! The comparisons with Nix skip (with a note) when `nix-store` is not installed.

use ferrix_store::{open_store, StoreOptions};
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_ferrix");

/// A command with the store environment cleared, so that only `--store` decides.
fn clean(program: &str) -> Command {
    let mut c = Command::new(program);
    for v in [
        "NIX_REMOTE",
        "NIX_STORE_DIR",
        "NIX_STATE_DIR",
        "NIX_LOG_DIR",
    ] {
        c.env_remove(v);
    }
    c.stdin(Stdio::null());
    c
}

fn ferrix(args: &[&str]) -> Output {
    clean(BIN).args(args).output().expect("run ferrix")
}

fn fstore(store: &Path, args: &[&str]) -> Output {
    let mut a = vec!["store", "--store", store.to_str().unwrap()];
    a.extend_from_slice(args);
    ferrix(&a)
}

fn have_nix() -> bool {
    let ok = Command::new("nix-store")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("note: nix-store is not installed; skipping the comparison with Nix 2.8");
    }
    ok
}

/// `nix-store --store STORE ARGS`, offline.
fn nstore(store: &Path, args: &[&str]) -> Output {
    clean("nix-store")
        .args(["--store", store.to_str().unwrap()])
        .args(["--option", "substituters", ""])
        .args(args)
        .output()
        .expect("run nix-store")
}

fn text(o: &Output) -> String {
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
    text(&o)
}

/// A tree with a regular file, an executable, symlinks, empty directories and non-ASCII
/// names.
fn make_tree(root: &Path) {
    std::fs::create_dir_all(root.join("sub/empty")).unwrap();
    std::fs::create_dir_all(root.join("zero")).unwrap();
    std::fs::write(root.join("file"), "contents\n").unwrap();
    std::fs::write(root.join("exe"), "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(root.join("exe"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(root.join("sub/ünïcödé ☃"), vec![0u8, 1, 2, 255]).unwrap();
    std::fs::write(root.join("sub/.hidden"), "").unwrap();
    std::os::unix::fs::symlink("file", root.join("link")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/target", root.join("sub/dangling")).unwrap();
    std::fs::write(root.join("big"), vec![b'x'; 100_003]).unwrap();
}

fn paths(s: &str) -> Vec<String> {
    s.lines().map(str::to_owned).collect()
}

#[test]
fn dump_is_identical_to_nix() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    make_tree(&tree);
    let ours = ferrix(&["store", "--dump", tree.to_str().unwrap()]);
    assert!(ours.status.success());
    // Restoring our own dump gives the same dump back.
    let back = tmp.path().join("back");
    let mut child = clean(BIN)
        .args(["store", "--restore", back.to_str().unwrap()])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&ours.stdout).unwrap();
    assert!(child.wait().unwrap().success());
    let again = ferrix(&["store", "--dump", back.to_str().unwrap()]);
    assert_eq!(again.stdout, ours.stdout);
    if !have_nix() {
        return;
    }
    let theirs = clean("nix-store")
        .args(["--dump", tree.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(theirs.status.success());
    assert!(
        ours.stdout == theirs.stdout,
        "NAR bytes differ from nix-store --dump"
    );
    for file in ["file", "exe", "link", "sub"] {
        let p = tree.join(file);
        let a = ferrix(&["store", "--dump", p.to_str().unwrap()]);
        let b = clean("nix-store")
            .args(["--dump", p.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(a.stdout == b.stdout, "{file}");
    }
}

#[test]
fn nix_hash_is_identical_to_nix() {
    if !have_nix() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    make_tree(&tree);
    let t = tree.to_str().unwrap().to_string();
    let f = tree.join("file").to_str().unwrap().to_string();
    let sha = text(
        &Command::new("nix-hash")
            .args(["--type", "sha256", &t])
            .output()
            .unwrap(),
    )
    .trim()
    .to_string();
    let s32 = text(
        &Command::new("nix-hash")
            .args(["--type", "sha256", "--base32", &t])
            .output()
            .unwrap(),
    )
    .trim()
    .to_string();
    let cases: Vec<Vec<String>> = vec![
        vec![t.clone()],
        vec!["--type".into(), "sha1".into(), t.clone(), f.clone()],
        vec![
            "--type".into(),
            "sha256".into(),
            "--base32".into(),
            t.clone(),
        ],
        vec![
            "--type".into(),
            "sha512".into(),
            "--base32".into(),
            t.clone(),
        ],
        vec!["--flat".into(), f.clone()],
        vec!["--flat".into(), "--type".into(), "sha256".into(), f.clone()],
        vec![
            "--type".into(),
            "sha256".into(),
            "--truncate".into(),
            t.clone(),
        ],
        vec![
            "--type".into(),
            "sha512".into(),
            "--truncate".into(),
            "--base32".into(),
            t.clone(),
        ],
        vec!["--flat".into(), t.clone()],
        vec![format!("{t}/nonexistent")],
        vec![
            "--type".into(),
            "sha256".into(),
            "--to-base32".into(),
            sha.clone(),
        ],
        vec![
            "--type".into(),
            "sha256".into(),
            "--to-base16".into(),
            s32.clone(),
        ],
        vec!["--to-base16".into(), format!("sha256:{s32}")],
        vec![
            "--type".into(),
            "sha256".into(),
            "--to-base16".into(),
            format!("sha256:{s32}"),
        ],
        vec![
            "--type".into(),
            "sha256".into(),
            "--to-base16".into(),
            "sha256-AAAA".into(),
        ],
        vec!["--to-base32".into(), "xyz".into()],
        vec![
            "--type".into(),
            "sha1".into(),
            "--to-base32".into(),
            "sha256:abc".into(),
        ],
        vec![],
    ];
    for args in cases {
        let a = Command::new("nix-hash").args(&args).output().unwrap();
        let b = clean(BIN).arg("hash").args(&args).output().unwrap();
        assert_eq!(
            (
                text(&a),
                String::from_utf8_lossy(&a.stderr),
                a.status.code()
            ),
            (
                text(&b),
                String::from_utf8_lossy(&b.stderr),
                b.status.code()
            ),
            "nix-hash {args:?}"
        );
    }
}

/// Fills a chroot store through Ferrix: a tree, flat and fixed files, and text paths with
/// references (through the library, as instantiation adds them).
fn fill_with_ferrix(store: &Path, src: &Path) -> (String, String) {
    make_tree(src);
    let tree = ok(fstore(store, &["--add", src.to_str().unwrap()]));
    ok(fstore(
        store,
        &["--add-fixed", "sha1", src.join("file").to_str().unwrap()],
    ));
    ok(fstore(
        store,
        &[
            "--add-fixed",
            "--recursive",
            "sha512",
            src.join("sub").to_str().unwrap(),
        ],
    ));
    let s = open_store(&StoreOptions {
        store_uri: Some(store.to_str().unwrap().into()),
        ..Default::default()
    })
    .unwrap();
    let tree_path = s.dir().parse(tree.trim()).unwrap();
    let a = s.add_text("a", b"plain", &BTreeSet::new()).unwrap();
    let b = s
        .add_text(
            "b",
            format!("{} {}", s.dir().display(&a), tree.trim()).as_bytes(),
            &[a.clone(), tree_path].into(),
        )
        .unwrap();
    // A derivation with the output path its contents give (the store refuses forged
    // ones).
    let mut drv = ferrix_store::derivation::Derivation {
        platform: b"x86_64-linux".to_vec(),
        builder: b"/bin/sh".to_vec(),
        ..Default::default()
    };
    drv.input_srcs.insert(s.dir().display(&b).into_bytes());
    drv.outputs.insert(b"out".to_vec(), Default::default());
    drv.env.insert(b"out".to_vec(), Vec::new());
    let h = drv.hash_modulo(true, &mut |_| Err::<_, ()>(())).unwrap();
    let out = s
        .dir()
        .display(&s.dir().make_output_path("out", &h, "x").unwrap());
    drv.outputs.get_mut(&b"out"[..]).unwrap().path = out.clone().into_bytes();
    drv.env.insert(b"out".to_vec(), out.into_bytes());
    let drv = drv.unparse(false);
    let d = s.add_text("x.drv", &drv, &[b.clone()].into()).unwrap();
    (tree.trim().to_string(), s.dir().display(&d))
}

#[test]
fn nix_verifies_a_store_ferrix_filled() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let (tree, drv) = fill_with_ferrix(&store, &tmp.path().join("src"));
    let ours_r = ok(fstore(&store, &["-qR", &drv]));
    assert_eq!(paths(&ours_r).len(), 4, "{ours_r}");
    ok(fstore(&store, &["--verify", "--check-contents"]));
    // The schema file and WAL mode, as Nix keeps them.
    let state = store.join("nix/var/nix/db");
    assert_eq!(std::fs::read_to_string(state.join("schema")).unwrap(), "10");
    if !have_nix() {
        return;
    }
    let v = nstore(&store, &["--verify", "--check-contents"]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    let err = String::from_utf8_lossy(&v.stderr);
    assert!(!err.contains("error") && !err.contains("modified"), "{err}");
    assert_eq!(ok(nstore(&store, &["-qR", &drv])), ours_r);
    for q in [
        vec!["-q", "--tree", drv.as_str()],
        vec!["-q", "--graph", drv.as_str()],
        vec!["-q", "--outputs", drv.as_str()],
        vec!["-q", "--hash", tree.as_str()],
        vec!["-q", "--size", tree.as_str()],
        vec!["-q", "--referrers-closure", tree.as_str()],
        vec!["--dump-db"],
        vec!["--export", drv.as_str()],
    ] {
        assert_eq!(
            nstore(&store, &q).stdout,
            fstore(&store, &q).stdout,
            "{q:?}"
        );
    }
    // Nix reads the derivation outputs Ferrix recorded.
    let o = nstore(&store, &["-q", "--outputs", &drv]);
    assert_eq!(text(&o), "/nix/store/5p92va6xjkp9icnx82np3mqib205hfiv-x\n");
    // Nix keeps adding to the store Ferrix made, and Ferrix still verifies it.
    let extra = tmp.path().join("extra");
    std::fs::write(&extra, "from nix").unwrap();
    let p = ok(nstore(&store, &["--add", extra.to_str().unwrap()]));
    ok(fstore(&store, &["--verify", "--check-contents"]));
    assert_eq!(ok(fstore(&store, &["--check-validity", p.trim()])), "");
}

#[test]
fn nix_store_dir_and_state_dir_variables() {
    let tmp = tempfile::tempdir().unwrap();
    let sd = tmp.path().join("s");
    let st = tmp.path().join("state");
    let src = tmp.path().join("src");
    make_tree(&src);
    let env = |c: &mut Command| {
        c.env("NIX_STORE_DIR", &sd).env("NIX_STATE_DIR", &st);
    };
    let mut c = clean(BIN);
    env(&mut c);
    let p = ok(c
        .args(["store", "--add", src.to_str().unwrap()])
        .output()
        .unwrap());
    assert!(p.starts_with(sd.to_str().unwrap()), "{p}");
    assert!(st.join("db/db.sqlite").exists());
    if !have_nix() {
        return;
    }
    let mut c = clean("nix-store");
    env(&mut c);
    let v = c
        .args([
            "--option",
            "substituters",
            "",
            "--verify",
            "--check-contents",
        ])
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    let mut c = clean("nix-store");
    env(&mut c);
    let q = ok(c.args(["-qR", p.trim()]).output().unwrap());
    assert_eq!(q, p);
    let mut c = clean("nix-store");
    env(&mut c);
    let theirs = ok(c.args(["--add", src.to_str().unwrap()]).output().unwrap());
    assert_eq!(theirs, p);
}

#[test]
fn ferrix_reads_a_store_nix_filled() {
    if !have_nix() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let src = tmp.path().join("src");
    make_tree(&src);
    let tree = ok(nstore(&store, &["--add", src.to_str().unwrap()]));
    let nix_file = tmp.path().join("d.nix");
    std::fs::write(
        &nix_file,
        format!(
            r#"let a = builtins.toFile "a" "hello";
                   t = builtins.storePath "{}";
                   d1 = derivation {{ name = "d1"; system = "x86_64-linux"; builder = "/bin/sh";
                                     args = [ a "x y" "it's" ]; t = t; outputs = [ "out" "dev" ]; }};
               in derivation {{ name = "d"; system = "x86_64-linux"; builder = "/bin/sh";
                               args = [ a ]; dep = d1; dev = d1.dev; }}"#,
            tree.trim()
        ),
    )
    .unwrap();
    let inst = clean("nix-instantiate")
        .args(["--store", store.to_str().unwrap()])
        .arg(&nix_file)
        .output();
    let Ok(inst) = inst else {
        eprintln!("note: nix-instantiate is not installed; skipping");
        return;
    };
    let drv = ok(inst).trim().to_string();
    let v = fstore(&store, &["--verify", "--check-contents"]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    assert_eq!(
        String::from_utf8_lossy(&v.stderr),
        "reading the Nix store...\nchecking path existence...\nchecking link hashes...\nchecking store hashes...\n"
    );
    let d1 = paths(&ok(nstore(&store, &["-q", "--references", &drv])))
        .into_iter()
        .find(|p| p.ends_with("d1.drv"))
        .unwrap();
    for q in [
        vec!["-qR", drv.as_str()],
        vec!["-qR", "--include-outputs", drv.as_str()],
        vec!["-q", "--references", drv.as_str()],
        vec!["-q", "--referrers", tree.trim()],
        vec!["-q", "--referrers-closure", tree.trim()],
        vec!["-q", "--tree", drv.as_str()],
        vec!["-q", "--graph", drv.as_str()],
        vec!["-q", "--graphml", drv.as_str()],
        vec!["-q", "--outputs", drv.as_str(), d1.as_str()],
        vec!["-q", "--deriver", d1.as_str()],
        vec!["-q", "-b", "name", d1.as_str()],
        vec!["-q", "--hash", drv.as_str(), tree.trim()],
        vec!["-q", "--size", drv.as_str()],
        vec!["--print-env", d1.as_str()],
        vec!["--dump-db"],
        vec!["--dump", tree.trim()],
        vec!["--export", drv.as_str(), d1.as_str()],
        vec!["--check-validity", "--print-invalid", drv.as_str()],
    ] {
        let a = nstore(&store, &q);
        let b = fstore(&store, &q);
        assert!(
            a.stdout == b.stdout,
            "{q:?}:\n{}\n---\n{}",
            text(&a),
            text(&b)
        );
        assert_eq!(a.status.code(), b.status.code(), "{q:?}");
    }
    // Import what Nix exported into a fresh store; Nix verifies the result.
    let closure = ok(nstore(&store, &["-qR", &drv]));
    let mut args = vec!["--export"];
    args.extend(closure.lines());
    let exported = nstore(&store, &args).stdout;
    let fresh = tmp.path().join("fresh");
    let mut child = clean(BIN)
        .args(["store", "--store", fresh.to_str().unwrap(), "--import"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&exported).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(text(&out), closure);
    assert_eq!(ok(fstore(&fresh, &["-qR", &drv])), closure);
    let v = nstore(&fresh, &["--verify", "--check-contents"]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    // A modified path is reported by both, in the same words.
    let real = store.join(tree.trim().trim_start_matches('/')).join("file");
    let dir = real.parent().unwrap().to_path_buf();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&real, "changed\n").unwrap();
    let a = nstore(&store, &["--verify", "--check-contents"]);
    let b = fstore(&store, &["--verify", "--check-contents"]);
    assert_eq!(a.status.code(), Some(1));
    assert_eq!(b.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr)
    );
}

#[test]
fn delete_refuses_live_and_referenced_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let (tree, drv) = fill_with_ferrix(&store, &tmp.path().join("src"));
    let o = fstore(&store, &["--delete", &tree]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(text(&o), "0 store paths deleted, 0.00 MiB freed\n");
    assert!(String::from_utf8_lossy(&o.stderr).contains(&format!(
        "error: Cannot delete path '{tree}' since it is still alive. To find out why, use: nix-store --query --roots"
    )));
    // A root keeps the derivation alive.
    let roots = store.join("nix/var/nix/gcroots");
    std::os::unix::fs::symlink(&drv, roots.join("r")).unwrap();
    assert_eq!(fstore(&store, &["--delete", &drv]).status.code(), Some(1));
    std::fs::remove_file(roots.join("r")).unwrap();
    let o = fstore(&store, &["--delete", &drv]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(text(&o).starts_with("1 store paths deleted"));
    assert_eq!(
        fstore(&store, &["--check-validity", &drv]).status.code(),
        Some(1)
    );
    ok(fstore(&store, &["--verify", "--check-contents"]));
    if have_nix() {
        let v = nstore(&store, &["--verify", "--check-contents"]);
        assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    }
}

/// A tiny deterministic generator for kill times.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

fn verify_both(store: &Path, nix: bool) {
    let o = fstore(store, &["--verify", "--check-contents"]);
    assert!(
        o.status.success(),
        "ferrix --verify after a kill: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    if nix {
        let o = nstore(store, &["--verify", "--check-contents"]);
        assert!(
            o.status.success(),
            "nix-store --verify after a kill: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn sigkill_while_adding_never_breaks_the_store() {
    let nix = have_nix();
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let big = tmp.path().join("big");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
        let mut x: u32 = 1;
        for _ in 0..(24 << 20) / 4 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            f.write_all(&x.to_le_bytes()).unwrap();
        }
    }
    // How long a whole addition takes, to spread the kills over it; then the export of the
    // result, to kill imports too.
    let scratch = tmp.path().join("scratch");
    let t0 = std::time::Instant::now();
    let p = ok(fstore(&scratch, &["--add", big.to_str().unwrap()]));
    let full = t0.elapsed().as_micros() as u64 + 1;
    let export = fstore(&scratch, &["--export", p.trim()]).stdout;
    let export_file = tmp.path().join("export");
    std::fs::write(&export_file, &export).unwrap();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    eprintln!("sigkill test: seed {seed}, a full addition takes {full} µs");
    let mut rng = Lcg(seed);
    for round in 0..10 {
        let import = round % 2 == 1;
        let mut cmd = clean(BIN);
        cmd.args(["store", "--store", store.to_str().unwrap()]);
        if import {
            cmd.arg("--import")
                .stdin(std::fs::File::open(&export_file).unwrap());
        } else {
            cmd.args(["--add", big.to_str().unwrap()]);
        }
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let delay = rng.next(full * 12 / 10);
        std::thread::sleep(std::time::Duration::from_micros(delay));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let temps = std::fs::read_dir(store.join("nix/store"))
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with(".ferrix-"))
                    .count()
            })
            .unwrap_or(0);
        eprintln!("round {round}: {temps} temporaries left by the killed process");
        verify_both(&store, nix);
        // Whatever is registered is complete; then remove it again for the next round.
        let valid = fstore(&store, &["--check-validity", "--print-invalid", p.trim()]);
        eprintln!(
            "round {round} ({}): killed after {delay} µs, path {}",
            if import { "import" } else { "add" },
            if text(&valid).is_empty() {
                "valid"
            } else {
                "not valid"
            }
        );
        if text(&valid).is_empty() {
            let real: PathBuf = store.join(p.trim().trim_start_matches('/'));
            assert_eq!(std::fs::read(&real).unwrap().len(), 24 << 20);
            ok(fstore(&store, &["--delete", p.trim()]));
        }
    }
    // Verification cleared away what the killed processes left.
    let left: Vec<_> = std::fs::read_dir(store.join("nix/store"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".ferrix-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // A last, undisturbed addition works after all that.
    assert_eq!(ok(fstore(&store, &["--add", big.to_str().unwrap()])), p);
    verify_both(&store, nix);
}

/// Nix 2.8's collector deletes every entry of the store directory that is not a store path
/// and no temp root: Ferrix's temporaries have store-path names and are temp roots before
/// anything is written, so additions run while Nix collects in a loop never fail, and the
/// store verifies.
#[test]
fn nix_gc_in_a_loop_spares_ferrix_additions() {
    if !have_nix() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    for i in 0..2000 {
        std::fs::write(src.join(format!("f{i}")), format!("{i}\n")).unwrap();
    }
    ok(fstore(&store, &["--add", src.to_str().unwrap()]));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let gc = {
        let (stop, store) = (stop.clone(), store.clone());
        std::thread::spawn(move || {
            let mut runs = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                nstore(&store, &["--gc"]);
                runs += 1;
            }
            runs
        })
    };
    for i in 0..12 {
        std::fs::write(src.join("f0"), format!("round {i}\n")).unwrap();
        let o = fstore(&store, &["--add", src.to_str().unwrap()]);
        assert!(
            o.status.success(),
            "addition {i} during Nix's GC: {}",
            text(&o)
        );
        // Text additions too (another temporary kind).
        let o = ferrix(&[
            "instantiate",
            "--store",
            store.to_str().unwrap(),
            "--read-write-mode",
            "--eval",
            "-E",
            &format!("builtins.toFile \"t{i}\" \"text {i}\""),
        ]);
        assert!(o.status.success(), "text addition {i}: {}", text(&o));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let runs = gc.join().unwrap();
    assert!(runs > 0, "Nix's collector ran");
    verify_both(&store, true);
}
