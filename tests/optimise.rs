//! Store optimisation against Nix 2.8: on two copies of one chroot store, `nix-store
//! --optimise` by Nix 2.8 and by Ferrix make the same link groups, the same `.links`
//! entries and report the same figure; a second run changes nothing; Nix 2.8 verifies the
//! result; a deleted `.links` is made again; `auto-optimise-store` links at addition; the
//! collector removes `.links` entries nothing uses. Every store is a temporary chroot store.
//!
//! The tests skip (with a note) when Nix 2.8's `nix-store` is missing.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_ferrix");

fn cmd(program: &str, store: &Path) -> Command {
    let mut c = Command::new(program);
    for v in [
        "NIX_REMOTE",
        "NIX_STORE_DIR",
        "NIX_LOG_DIR",
        "NIX_STATE_DIR",
        "NIX_PATH",
        "NIX_CONFIG",
    ] {
        c.env_remove(v);
    }
    c.arg("--store").arg(store);
    c.stdin(Stdio::null());
    c
}

fn ferrix(store: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.arg("store");
    for v in [
        "NIX_REMOTE",
        "NIX_STORE_DIR",
        "NIX_LOG_DIR",
        "NIX_STATE_DIR",
        "NIX_PATH",
        "NIX_CONFIG",
    ] {
        c.env_remove(v);
    }
    c.arg("--store").arg(store);
    c.stdin(Stdio::null());
    c
}

#[track_caller]
fn ok(o: Output) -> (String, String) {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "failed ({:?}): {err}", o.status);
    (String::from_utf8_lossy(&o.stdout).into_owned(), err)
}

fn nix_present() -> bool {
    Command::new("nix-store")
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(" 2.8."))
}

fn write(p: &Path, data: &[u8], exec: bool) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, data).unwrap();
    let mode = if exec { 0o755 } else { 0o644 };
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

/// Source trees with duplicates of every kind: regular files, an executable with the same
/// bytes (which must stay apart), symlinks with one target, empty files, a larger file,
/// and a top-level file path.
fn sources(d: &Path) -> Vec<PathBuf> {
    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let t1 = d.join("src/one");
    write(&t1.join("a"), b"same\n", false);
    write(&t1.join("b"), b"same\n", false);
    write(&t1.join("x"), b"same\n", true);
    write(&t1.join("e"), b"", false);
    write(&t1.join("big"), &big, false);
    std::os::unix::fs::symlink("target", t1.join("l")).unwrap();
    let t2 = d.join("src/two");
    write(&t2.join("c"), b"same\n", false);
    write(&t2.join("sub/dd"), b"same\n", false);
    write(&t2.join("e2"), b"", false);
    write(&t2.join("big2"), &big, false);
    write(&t2.join("other"), b"different\n", false);
    std::os::unix::fs::symlink("target", t2.join("sub/l2")).unwrap();
    let t3 = d.join("src/three");
    write(&t3.join("exe"), b"same\n", true);
    let f = d.join("src/file");
    write(&f, b"same\n", false);
    vec![t1, t2, t3, f]
}

/// The store's files grouped by inode (relative names, `.links` left out), and the names
/// in `.links`.
fn shape(real: &Path) -> (BTreeSet<Vec<String>>, BTreeSet<String>) {
    fn walk(p: &Path, rel: &str, by_ino: &mut BTreeMap<u64, Vec<String>>) {
        let m = fs::symlink_metadata(p).unwrap();
        if m.is_dir() {
            for e in fs::read_dir(p).unwrap() {
                let e = e.unwrap();
                let n = e.file_name().to_string_lossy().into_owned();
                if rel.is_empty() && (n == ".links" || n.starts_with(".ferrix-")) {
                    continue;
                }
                let r = if rel.is_empty() {
                    n.clone()
                } else {
                    format!("{rel}/{n}")
                };
                walk(&e.path(), &r, by_ino);
            }
        } else {
            by_ino.entry(m.ino()).or_default().push(rel.to_string());
        }
    }
    let mut by_ino = BTreeMap::new();
    walk(real, "", &mut by_ino);
    let groups = by_ino
        .into_values()
        .map(|mut v| {
            v.sort();
            v
        })
        .collect();
    let links = fs::read_dir(real.join(".links"))
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    (groups, links)
}

fn freed_line(stderr: &str) -> String {
    stderr
        .lines()
        .find(|l| l.contains("freed by hard-linking"))
        .unwrap_or_else(|| panic!("no figure in {stderr:?}"))
        .to_string()
}

fn copy_store(from: &Path, to: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn optimise_matches_nix() {
    if !nix_present() {
        eprintln!("note: Nix 2.8 is missing; skipping the optimise comparison");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = d.join("base");
    for s in sources(d) {
        ok(cmd("nix-store", &base)
            .arg("--add")
            .arg(&s)
            .output()
            .unwrap());
    }
    let ours = d.join("ours");
    let theirs = d.join("theirs");
    copy_store(&base, &ours);
    copy_store(&base, &theirs);

    let (_, nix_err) = ok(cmd("nix-store", &theirs)
        .arg("--optimise")
        .output()
        .unwrap());
    let (_, our_err) = ok(ferrix(&ours).arg("--optimise").output().unwrap());
    assert_eq!(freed_line(&our_err), freed_line(&nix_err));
    assert!(freed_line(&our_err).starts_with("0.") && !our_err.contains(" 0 files"));

    let (our_groups, our_links) = shape(&ours.join("nix/store"));
    let (nix_groups, nix_links) = shape(&theirs.join("nix/store"));
    assert_eq!(our_groups, nix_groups);
    assert_eq!(our_links, nix_links);
    // The duplicates really share inodes, and the executable stayed apart.
    assert!(our_groups.iter().any(|g| g.len() >= 5));
    assert!(our_groups
        .iter()
        .any(|g| g.iter().any(|n| n.ends_with("-one/x"))
            && g.iter().any(|n| n.ends_with("-three/exe"))
            && !g.iter().any(|n| n.ends_with("-one/a"))));

    // A second run changes nothing.
    let (_, again) = ok(ferrix(&ours).arg("--optimise").output().unwrap());
    assert_eq!(freed_line(&again), "0.00 MiB freed by hard-linking 0 files");
    assert_eq!(shape(&ours.join("nix/store")).0, our_groups);

    // Nix 2.8 verifies the result.
    let (_, v) = ok(cmd("nix-store", &ours)
        .args(["--verify", "--check-contents"])
        .output()
        .unwrap());
    assert!(!v.contains("modified"), "{v}");

    // A deleted `.links` is made again, and what is linked stays linked.
    fs::remove_dir_all(ours.join("nix/store/.links")).unwrap();
    let (_, e) = ok(ferrix(&ours).arg("--optimise").output().unwrap());
    assert_eq!(freed_line(&e), "0.00 MiB freed by hard-linking 0 files");
    assert_eq!(shape(&ours.join("nix/store")).1, our_links);

    // Arguments are refused, as Nix does.
    let o = ferrix(&ours).args(["--optimise", "x"]).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no arguments expected"));
}

#[test]
fn auto_optimise_and_gc_of_links() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let store = d.join("s");
    let one = d.join("one");
    let two = d.join("two");
    write(&one.join("f"), b"shared bytes\n", false);
    write(&one.join("g"), b"only in one\n", false);
    write(&two.join("f"), b"shared bytes\n", false);
    let add = |p: &Path| {
        ok(ferrix(&store)
            .args(["--option", "auto-optimise-store", "true", "--add"])
            .arg(p)
            .output()
            .unwrap())
        .0
        .trim()
        .to_string()
    };
    let p1 = add(&one);
    let p2 = add(&two);
    let real = |p: &str| store.join(p.trim_start_matches('/'));
    let i1 = fs::metadata(real(&p1).join("f")).unwrap();
    let i2 = fs::metadata(real(&p2).join("f")).unwrap();
    assert_eq!(i1.ino(), i2.ino(), "auto-optimise-store linked nothing");
    assert_eq!(i1.nlink(), 3);
    let links = store.join("nix/store/.links");
    assert_eq!(fs::read_dir(&links).unwrap().count(), 2);

    // Deleting the first path leaves `g`'s link unused, and the collector removes it.
    ok(ferrix(&store).arg("--delete").arg(&p1).output().unwrap());
    assert_eq!(fs::read_dir(&links).unwrap().count(), 1);
    assert_eq!(fs::metadata(real(&p2).join("f")).unwrap().nlink(), 2);

    // Without the setting, nothing is linked at addition.
    let plain = d.join("p");
    for p in [&one, &two] {
        ok(ferrix(&plain).arg("--add").arg(p).output().unwrap());
    }
    assert_eq!(
        fs::read_dir(plain.join("nix/store/.links"))
            .unwrap()
            .count(),
        0
    );
}
