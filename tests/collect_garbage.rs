//! `nix-collect-garbage` (reached through a link of that name) against Nix 2.8's, on two
//! copies of one chroot store with a profile of three generations of different ages:
//! `--delete-older-than`, `-d --dry-run`, `-d`, and bad day counts give the same output,
//! exit status and remaining generations. `NIX_STATE_DIR` points into each copy, since
//! that is where both look for profiles.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_ferrix");

fn nix_present() -> bool {
    Command::new("nix-store")
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(" 2.8."))
}

/// Runs `program` on the chroot store `root`; returns (status, stdout, stderr) with the
/// root's own name replaced by `ROOT`.
fn run(program: &Path, root: &Path, args: &[&str]) -> (i32, String, String) {
    let mut c = Command::new(program);
    for v in [
        "NIX_REMOTE",
        "NIX_STORE_DIR",
        "NIX_LOG_DIR",
        "NIX_PATH",
        "NIX_CONFIG",
    ] {
        c.env_remove(v);
    }
    c.env("NIX_STATE_DIR", root.join("nix/var/nix"));
    c.arg("--store").arg(root).args(args).stdin(Stdio::null());
    let o = c.output().unwrap();
    let r = root.to_str().unwrap();
    // Nix names itself as invoked (here by its full path) in "Try '... --help'".
    let clean = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .replace(r, "ROOT")
            .replace("/usr/bin/nix-collect-garbage", "nix-collect-garbage")
    };
    (
        o.status.code().unwrap_or(-1),
        clean(&o.stdout),
        clean(&o.stderr),
    )
}

fn generations(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(root.join("nix/var/nix/profiles/per-user/u"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn touch_back(p: &Path, days: u64) {
    let st = Command::new("touch")
        .arg("-h")
        .arg("-d")
        .arg(format!("{days} days ago"))
        .arg(p)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn collect_garbage_matches_nix() {
    if !nix_present() {
        eprintln!("note: Nix 2.8 is missing; skipping the nix-collect-garbage comparison");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = d.join("base");
    let mut paths = Vec::new();
    for (i, content) in ["one\n", "two\n", "three\n"].iter().enumerate() {
        let f = d.join(format!("f{i}"));
        fs::write(&f, content).unwrap();
        let o = Command::new("nix-store")
            .env("NIX_STATE_DIR", base.join("nix/var/nix"))
            .arg("--store")
            .arg(&base)
            .arg("--add")
            .arg(&f)
            .output()
            .unwrap();
        assert!(o.status.success());
        paths.push(String::from_utf8_lossy(&o.stdout).trim().to_string());
    }
    let prof = base.join("nix/var/nix/profiles/per-user/u");
    fs::create_dir_all(&prof).unwrap();
    for (i, p) in paths.iter().enumerate() {
        std::os::unix::fs::symlink(p, prof.join(format!("prof-{}-link", i + 1))).unwrap();
    }
    std::os::unix::fs::symlink("prof-3-link", prof.join("prof")).unwrap();
    touch_back(&prof.join("prof-1-link"), 40);
    touch_back(&prof.join("prof-2-link"), 20);

    let bin = d.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let ours_prog = bin.join("nix-collect-garbage");
    std::os::unix::fs::symlink(BIN, &ours_prog).unwrap();
    let nix_prog = Path::new("/usr/bin/nix-collect-garbage");

    let ours = d.join("ours");
    let theirs = d.join("theirs");
    for to in [&ours, &theirs] {
        assert!(Command::new("cp")
            .arg("-a")
            .arg(&base)
            .arg(to)
            .status()
            .unwrap()
            .success());
    }
    let steps: [&[&str]; 6] = [
        &["--delete-older-than", "10"],
        &["--delete-older-than", "0d"],
        &["--delete-older-than", "10d"],
        &["-d", "--dry-run"],
        &["-d"],
        &["--max-freed", "1K"],
    ];
    for args in steps {
        let a = run(&ours_prog, &ours, args);
        let b = run(nix_prog, &theirs, args);
        assert_eq!(a.0, b.0, "status of {args:?}: ours {a:?}, Nix {b:?}");
        assert_eq!(a.1, b.1, "stdout of {args:?}");
        // Usage errors name the program and say how to get help, in both.
        assert_eq!(a.2, b.2, "stderr of {args:?}");
        assert_eq!(generations(&ours), generations(&theirs), "after {args:?}");
    }
    // What the steps did: generation 1 went with 10d, 2 with -d; the current stays.
    assert_eq!(generations(&ours), ["prof", "prof-3-link"]);
    assert!(!ours.join(&paths[0][1..]).exists());
    assert!(!ours.join(&paths[1][1..]).exists());
    assert!(ours.join(&paths[2][1..]).exists());
}
