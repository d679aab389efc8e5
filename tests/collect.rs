//! The evaluator's collector at its safe points: between the items of a top-level list that
//! `--eval --strict` forces one by one, and between the attributes of `-A a -A b`; the
//! arena is collected there once it has grown. The results must not change, and must be
//! Nix 2.8's.

use std::path::PathBuf;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_ferrix");

fn run_with(program: &str, collect_at: Option<&str>, args: &[&str]) -> (i32, String, String) {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(program);
    if program == BIN {
        cmd.arg("instantiate");
    }
    cmd.arg("--readonly-mode")
        .args(args)
        .current_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .env_remove("NIX_PATH")
        .env("NIX_REMOTE", "dummy://")
        .env("HOME", home.path())
        .env("FERRIX_SHOW_STATS", "1");
    if let Some(mib) = collect_at {
        cmd.env("FERRIX_COLLECT_AT_MIB", mib);
    }
    let o = cmd.output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn collections_between_items_keep_the_results() {
    for extra in [&[][..], &["--json"][..]] {
        let mut args = vec!["--eval", "--strict", "tests/collect/list.nix"];
        args.extend(extra);
        let plain = run_with(BIN, None, &args);
        assert_eq!(plain.0, 0, "{plain:?}");
        assert!(!plain.2.contains("collected at item"), "{}", plain.2);
        assert!(
            plain.1.contains("item-3") || plain.1.contains("x9"),
            "{}",
            plain.1
        );
        // A first collection due at 1 MiB, then each time the arena doubles what was live.
        assert_collected_alike(&args, "1", "collected at item", &plain);
    }
}

/// Runs `args` with the first collection due at `mib` MiB: it collects at least twice
/// (stderr lines with `marker`), and prints what the run without collections printed
/// (`plain`), which Nix 2.8 prints too.
fn assert_collected_alike(args: &[&str], mib: &str, marker: &str, plain: &(i32, String, String)) {
    let collected = run_with(BIN, Some(mib), args);
    assert!(collected.2.matches(marker).count() >= 2, "{}", collected.2);
    assert_eq!((collected.0, &collected.1), (0, &plain.1));
    if nix_installed() {
        let nix = run_with("nix-instantiate", None, args);
        assert_eq!((nix.0, &nix.1), (0, &plain.1), "{}", nix.2);
    }
}

fn nix_installed() -> bool {
    Command::new("nix-instantiate")
        .arg("--version")
        .output()
        .is_ok()
}

#[test]
fn collections_between_attributes_keep_the_results() {
    let attrs: Vec<String> = (0..12).map(|i| format!("a{i}")).collect();
    let mut drvs = vec!["tests/collect/attrs.nix"];
    for a in &attrs {
        drvs.extend(["-A", a.as_str()]);
    }
    let mut names = vec!["--eval", "--strict"];
    names.extend(&drvs);
    names.extend(["-A", "a3.kept", "-A", "a5.n"]);
    for args in [&drvs, &names] {
        let plain = run_with(BIN, None, args);
        assert_eq!(plain.0, 0, "{plain:?}");
        assert!(!plain.2.contains("collected before"), "{}", plain.2);
        assert!(plain.1.lines().count() >= 12, "{}", plain.1);
        // Due at a quarter of 4 MiB, then each time the arena doubles what was live.
        assert_collected_alike(args, "4", "collected before -A", &plain);
    }
}
