//! The collector under stress, on temporary chroot stores:
//! - **Concurrency.** `--gc` runs in a loop while 50 builds and additions run: none fails,
//!   every build's output (kept by its `-o` root) is there, and the store verifies with no
//!   path missing.
//! - **Crash safety.** A collection of hundreds of dead paths is killed with SIGKILL at 20
//!   different moments; after each, the store verifies (no registered path has lost its
//!   files) and the rooted paths are intact.
//!
//! The verification is Nix 2.8's `nix-store --verify --check-contents` when it is present
//! (Ferrix's otherwise); it reports a registered path whose files are gone as "disappeared".

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_ferrix");

fn ferrix(sub: &str, store: &Path) -> Command {
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
    c.env("NIX_STATE_DIR", store.join("nix/var/nix"));
    c.arg("--store").arg(store);
    // No substituters: nothing here may reach beyond loopback.
    c.args(["--option", "substituters", ""]);
    c.stdin(Stdio::null());
    c
}

fn nix_present() -> bool {
    Command::new("nix-store")
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(" 2.8."))
}

/// Verifies the store's contents; panics on anything missing or modified.
#[track_caller]
fn verify(store: &Path) {
    let o = if nix_present() {
        let mut c = Command::new("nix-store");
        for v in ["NIX_REMOTE", "NIX_STORE_DIR", "NIX_STATE_DIR", "NIX_CONFIG"] {
            c.env_remove(v);
        }
        c.arg("--store")
            .arg(store)
            .args(["--verify", "--check-contents"]);
        c.output().unwrap()
    } else {
        ferrix("store", store)
            .args(["--verify", "--check-contents"])
            .output()
            .unwrap()
    };
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "verify failed: {err}");
    assert!(
        !err.contains("disappeared") && !err.contains("modified"),
        "verify found damage: {err}"
    );
}

#[test]
fn gc_in_a_loop_while_building_and_adding() {
    if !Path::new("/bin/busybox").exists() {
        eprintln!("note: /bin/busybox is missing; skipping the concurrent GC test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let store = d.join("s");
    // Some garbage for the collector to chew on, and the store's directories.
    for i in 0..20 {
        let f = d.join(format!("g{i}"));
        fs::write(&f, format!("garbage {i}")).unwrap();
        assert!(ferrix("store", &store)
            .arg("--add")
            .arg(&f)
            .status()
            .unwrap()
            .success());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let gc = {
        let stop = stop.clone();
        let store = store.clone();
        std::thread::spawn(move || {
            let mut runs = 0;
            while !stop.load(Ordering::Relaxed) {
                let o = ferrix("store", &store).arg("--gc").output().unwrap();
                assert!(
                    o.status.success(),
                    "gc failed: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
                runs += 1;
            }
            runs
        })
    };
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let store = store.clone();
            let d = d.to_path_buf();
            std::thread::spawn(move || {
                let mut outs: Vec<(PathBuf, String)> = Vec::new();
                for i in (w..50).step_by(4) {
                    if i % 2 == 0 {
                        let e = d.join(format!("b{i}.nix"));
                        fs::write(
                            &e,
                            format!(
                                r#"let dep = builtins.toFile "dep{i}" "input {i}"; in
                                derivation {{ name = "b{i}"; system = "x86_64-linux";
                                  builder = "/bin/sh"; args = [ "-c" "cat ${{dep}} > $out" ]; }}"#
                            ),
                        )
                        .unwrap();
                        let link = d.join(format!("result-{i}"));
                        let o = ferrix("build", &store)
                            .args([
                                "--option",
                                "sandbox",
                                "true",
                                "--option",
                                "sandbox-paths",
                                "/bin/sh=/bin/busybox",
                                "-o",
                            ])
                            .arg(&link)
                            .arg(&e)
                            .output()
                            .unwrap();
                        assert!(
                            o.status.success(),
                            "build {i} failed: {}",
                            String::from_utf8_lossy(&o.stderr)
                        );
                        outs.push((link, format!("input {i}")));
                    } else {
                        let f = d.join(format!("a{i}"));
                        fs::write(&f, format!("added {i}")).unwrap();
                        let o = ferrix("store", &store)
                            .arg("--add")
                            .arg(&f)
                            .output()
                            .unwrap();
                        assert!(
                            o.status.success(),
                            "addition {i} failed: {}",
                            String::from_utf8_lossy(&o.stderr)
                        );
                    }
                }
                outs
            })
        })
        .collect();
    let mut outs = Vec::new();
    for w in workers {
        outs.extend(w.join().unwrap());
    }
    stop.store(true, Ordering::Relaxed);
    let runs = gc.join().unwrap();
    assert!(runs >= 2, "the collector ran only {runs} times");
    assert_eq!(outs.len(), 25);
    // A result link names the logical path; its bytes are under the chroot store.
    let read = |link: &Path| {
        let t = fs::read_link(link).unwrap();
        fs::read_to_string(store.join(t.strip_prefix("/").unwrap()))
            .unwrap_or_else(|e| panic!("{}: {e} (via {})", t.display(), link.display()))
    };
    for (link, want) in &outs {
        // The root keeps the output through every collection.
        assert_eq!(&read(link), want);
    }
    // One more collection with everything finished, then the whole store verifies.
    assert!(ferrix("store", &store)
        .arg("--gc")
        .status()
        .unwrap()
        .success());
    for (link, want) in &outs {
        assert_eq!(&read(link), want);
    }
    verify(&store);
}

/// Registers `n` dead paths (half of them directories of a few files) directly, as the
/// benchmark does; returns nothing (they are garbage).
fn add_garbage(store: &Path, round: usize, n: usize) {
    let real = store.join("nix/store");
    let alpha = b"0123456789abcdfghijklmnpqrsvwxyz";
    let mut reg = String::new();
    for i in 0..n {
        let mut h = [0u8; 32];
        let mut x = (round * 100_000 + i) as u64 ^ 0x9e37_79b9_7f4a_7c15;
        for c in h.iter_mut() {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *c = alpha[(x >> 59) as usize];
        }
        let name = format!("{}-g{round}-{i}", std::str::from_utf8(&h).unwrap());
        let p = real.join(&name);
        if i % 2 == 0 {
            fs::create_dir(&p).unwrap();
            for k in 0..4 {
                fs::write(p.join(format!("f{k}")), format!("{round} {i} {k}")).unwrap();
            }
        } else {
            fs::write(&p, format!("{round} {i}")).unwrap();
        }
        reg.push_str(&format!("/nix/store/{name}\n\n0\n"));
    }
    let mut c = ferrix("store", store)
        .arg("--register-validity")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    c.stdin.take().unwrap().write_all(reg.as_bytes()).unwrap();
    assert!(c.wait().unwrap().success());
}

#[test]
fn sigkill_during_gc_leaves_a_store_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let store = d.join("s");
    // Live paths: a directory and a file, rooted.
    let live_src = d.join("live");
    fs::create_dir_all(&live_src).unwrap();
    fs::write(live_src.join("x"), "live data").unwrap();
    let o = ferrix("store", &store)
        .args(["--add"])
        .arg(&live_src)
        .output()
        .unwrap();
    assert!(o.status.success());
    let live = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let roots = store.join("nix/var/nix/gcroots");
    std::os::unix::fs::symlink(&live, roots.join("live")).unwrap();

    let mut killed_mid_way = 0;
    for round in 0..20 {
        add_garbage(&store, round, 400);
        let mut c = ferrix("store", &store)
            .arg("--gc")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Spread the kills over the collection: from its start to well into deleting
        // (a collection of this store takes some tens of milliseconds).
        std::thread::sleep(Duration::from_millis(3 + (round as u64 * 7) % 60));
        let _ = c.kill();
        let st = c.wait().unwrap();
        if !st.success() {
            killed_mid_way += 1;
        }
        verify(&store);
        assert_eq!(
            fs::read_to_string(store.join(live.trim_start_matches('/')).join("x")).unwrap(),
            "live data"
        );
    }
    assert!(
        killed_mid_way >= 10,
        "only {killed_mid_way} of 20 collections were interrupted"
    );
    // A last, complete collection removes what the interrupted ones left.
    let o = ferrix("store", &store).arg("--gc").output().unwrap();
    assert!(o.status.success());
    let left = fs::read_dir(store.join("nix/store"))
        .unwrap()
        .filter(|e| {
            let n = e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .into_owned();
            n.contains("-g")
        })
        .count();
    assert_eq!(left, 0, "garbage left after a full collection");
    verify(&store);
}
