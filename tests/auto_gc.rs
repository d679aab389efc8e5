//! The automatic collector (`min-free`, `max-free`, `min-free-check-interval`), with the
//! free space faked through `_NIX_TEST_FREE_SPACE_FILE` as in Nix's `gc-auto` test: the
//! space running short while a build runs starts a collection that frees `max-free` minus
//! what is free (2 of 3 garbage paths of 1,000 bytes), and an addition waits for one. With
//! enough space, nothing is collected. Every store is a temporary chroot store.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_ferrix");

fn ferrix(sub: &str, store: &Path, fake: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.arg(sub);
    for v in [
        "NIX_REMOTE",
        "NIX_STORE_DIR",
        "NIX_LOG_DIR",
        "NIX_PATH",
        "NIX_CONFIG",
    ] {
        c.env_remove(v);
    }
    c.env("NIX_STATE_DIR", store.join("state"));
    c.env("_NIX_TEST_FREE_SPACE_FILE", fake);
    c.arg("--store").arg(store);
    // No substituters: nothing here may reach beyond loopback.
    c.args(["--option", "substituters", ""]);
    c.args([
        "--min-free",
        "1000",
        "--max-free",
        "2000",
        "--min-free-check-interval",
        "1",
    ]);
    c.stdin(Stdio::null());
    c
}

/// Adds three garbage paths of 1,000 bytes each; returns their real locations.
fn garbage(d: &Path, store: &Path, fake: &Path) -> Vec<std::path::PathBuf> {
    (1..=3)
        .map(|i| {
            let f = d.join(format!("garbage{i}"));
            fs::write(&f, vec![b'0' + i as u8; 1000]).unwrap();
            let o = ferrix("store", store, fake)
                .arg("--add")
                .arg(&f)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let p = String::from_utf8_lossy(&o.stdout).trim().to_string();
            store.join(p.trim_start_matches('/'))
        })
        .collect()
}

fn left(paths: &[std::path::PathBuf]) -> usize {
    paths.iter().filter(|p| p.exists()).count()
}

#[test]
fn space_running_short_during_a_build_collects() {
    if !Path::new("/bin/busybox").exists() {
        eprintln!("note: /bin/busybox is missing; skipping the auto-GC build test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let store = d.join("s");
    let fake = d.join("fake-free");
    fs::write(&fake, "1100").unwrap();
    let g = garbage(d, &store, &fake);
    assert_eq!(left(&g), 3);
    let expr = d.join("e.nix");
    fs::write(
        &expr,
        r#"derivation { name = "gc-a"; system = "x86_64-linux"; builder = "/bin/sh";
             args = [ "-c" "sleep 4; echo foo > $out" ]; }"#,
    )
    .unwrap();
    let child = ferrix("build", &store, &fake)
        .args([
            "--option",
            "sandbox",
            "true",
            "--option",
            "sandbox-paths",
            "/bin/sh=/bin/busybox",
            "--no-out-link",
        ])
        .arg(&expr)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The space runs short while the build runs.
    std::thread::sleep(Duration::from_millis(1500));
    fs::write(&fake, "100").unwrap();
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("running auto-GC to free 1900 bytes"), "{err}");
    assert_eq!(left(&g), 1, "{err}");
}

#[test]
fn additions_wait_for_the_collection_and_enough_space_collects_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let store = d.join("s");
    let fake = d.join("fake-free");
    fs::write(&fake, "5000").unwrap();
    let g = garbage(d, &store, &fake);
    assert_eq!(left(&g), 3, "collected with enough space");
    fs::write(&fake, "100").unwrap();
    let f = d.join("new");
    fs::write(&f, "new").unwrap();
    let o = ferrix("store", &store, &fake)
        .arg("--add")
        .arg(&f)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("running auto-GC to free 1900 bytes"), "{err}");
    // The addition returned after the collection: two of the three are gone already.
    assert_eq!(left(&g), 1);
    let added = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(store.join(added.trim_start_matches('/')).exists());
}
