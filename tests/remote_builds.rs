//! Remote builds without SSH: a machine that is a local chroot store (opened in-process, as
//! Nix's build hook opens one), and a binary cache as the store being built for, which can
//! only build on machines (Nix 2.8's `binary-cache-build-remote` test, reproduced here).
//! The machines over real sshd are tested in `tests/serve.rs`.
//!
//! Every store is temporary; the tests skip when the sandbox's busybox is missing.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_ferrix");

const CONF: &str =
    "build-users-group =\nsandbox = true\nsandbox-paths = /bin/sh=/bin/busybox\nsubstituters =\n";

/// Two derivations: `top` reads the output of `dep`.
const EXPR: &str = r#"
let dep = derivation { name = "rb-dep"; system = builtins.currentSystem; builder = "/bin/sh";
            args = ["-c" "echo dep-built; echo dep > $out"]; };
in derivation { name = "rb-top"; system = builtins.currentSystem; builder = "/bin/sh";
  args = ["-c" "read x < ${dep}; echo \"top $x\" > $out"]; }
"#;

fn ferrix(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("NIX_PATH")
        .env_remove("NIX_REMOTE")
        .env_remove("NIX_CONFIG")
        .env("HOME", dir.join("home"))
        .env("XDG_CACHE_HOME", dir.join("home/.cache"))
        .env("NIX_CONF_DIR", dir.join("etc"))
        .env("NIX_USER_CONF_FILES", "")
        .env("NIX_STATE_DIR", dir.join("state"))
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn setup() -> Option<tempfile::TempDir> {
    if !Path::new("/bin/busybox").exists() {
        eprintln!("skipping: /bin/busybox is not installed");
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("etc")).unwrap();
    std::fs::create_dir_all(tmp.path().join("home")).unwrap();
    std::fs::write(tmp.path().join("etc/nix.conf"), CONF).unwrap();
    Some(tmp)
}

/// A local store as a machine: with `-j0` everything is built there and copied back; a
/// feature the machine lacks leaves nothing it can build.
#[test]
fn a_local_store_machine_builds_everything_with_j0() {
    let Some(tmp) = setup() else { return };
    let d = tmp.path();
    let local = d.join("local");
    let machine = d.join("machine");
    let builders = format!("{} - - 1 1 big", machine.display());
    let o = ferrix(
        d,
        &[
            "build",
            "--store",
            local.to_str().unwrap(),
            "--no-out-link",
            "-j0",
            "--builders",
            &builders,
            "-E",
            EXPR,
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let rel = out.trim_start_matches('/');
    assert_eq!(
        std::fs::read_to_string(local.join(rel)).unwrap(),
        "top dep\n"
    );
    assert_eq!(
        std::fs::read_to_string(machine.join(rel)).unwrap(),
        "top dep\n"
    );
    assert!(
        text(&o).contains(&format!("' on '{}'...", machine.display())),
        "{}",
        text(&o)
    );

    // A derivation that needs a feature no machine has cannot be built with -j0.
    let kvm = r#"derivation { name = "rb-kvm"; system = builtins.currentSystem; builder = "/bin/sh";
                  requiredSystemFeatures = [ "kvm" ]; args = ["-c" "echo > $out"]; }"#;
    let o = ferrix(
        d,
        &[
            "build",
            "--store",
            local.to_str().unwrap(),
            "--no-out-link",
            "-j0",
            "--builders",
            &builders,
            "-E",
            kvm,
        ],
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("required (system, features): (x86_64-linux, kvm)"),
        "{}",
        text(&o)
    );
}

/// A binary cache as the store: it cannot build, so without machines the build fails
/// with Nix's message; with `auto` as the machine (the local store of `NIX_STATE_DIR`…)
/// the outputs end up in the cache; then nothing is left to build.
#[test]
fn a_binary_cache_builds_on_machines() {
    let Some(tmp) = setup() else { return };
    let d = tmp.path();
    let cache = format!("file://{}", d.join("cache").display());
    let machine = d.join("machine");
    let o = ferrix(d, &["build", "--store", &cache, "-E", EXPR]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("unable to build with a primary store that isn't a local store"),
        "{}",
        text(&o)
    );
    let builders = format!("{} - - 1 1", machine.display());
    let o = ferrix(
        d,
        &[
            "build",
            "--store",
            &cache,
            "-j0",
            "--builders",
            &builders,
            "-E",
            EXPR,
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(!d.join("result").exists(), "no link for a binary cache");
    let hash = out
        .trim_start_matches("/nix/store/")
        .split('-')
        .next()
        .unwrap()
        .to_string();
    assert!(d.join("cache").join(format!("{hash}.narinfo")).exists());
    // The cache has it now: nothing to build, no machines needed.
    let o = ferrix(d, &["build", "--store", &cache, "-j0", "-E", EXPR]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), out);
}
