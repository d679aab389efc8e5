//! `ferrix instantiate` without `--eval`: the `.drv` paths of derivations, against the
//! recorded output of Nix 2.8 and, when it is installed, against `nix-instantiate` itself.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_ferrix");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(program: &Path, args: &[&str]) -> (i32, String, String) {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(program);
    if program == Path::new(BIN) {
        cmd.arg("instantiate");
    }
    let o = cmd
        .args(args)
        .current_dir(root())
        .env_remove("NIX_PATH")
        .env("NIX_REMOTE", "dummy://")
        .env("HOME", home.path())
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn nix_instantiate() -> Option<PathBuf> {
    let out = Command::new("nix-instantiate")
        .arg("--version")
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .contains(" 2.8.")
        .then(|| PathBuf::from("nix-instantiate"))
}

#[test]
fn drv_paths_match_nix() {
    let expected = std::fs::read_to_string(root().join("tests/instantiate/drvs.exp")).unwrap();
    let args = ["--readonly-mode", "tests/instantiate/drvs.nix"];
    let (code, out, err) = run(Path::new(BIN), &args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, expected);
    assert_eq!(
        err,
        "warning: you did not specify '--add-root'; the result might be removed by the garbage collector\n"
    );
    let (_, _, quiet) = run(Path::new(BIN), &["--no-gc-warning", args[0], args[1]]);
    assert_eq!(quiet, "");
    match nix_instantiate() {
        Some(nix) => {
            let (ncode, nout, _) = run(&nix, &args);
            assert_eq!((ncode, nout), (0, expected), "the recording is stale");
        }
        None => eprintln!("nix-instantiate 2.8 not installed: compared with the recording only"),
    }
}

#[test]
fn attribute_selection_and_errors() {
    let (code, out, _) = run(
        Path::new(BIN),
        &[
            "--readonly-mode",
            "-E",
            "{ x = derivation { name = \"x\"; builder = \"b\"; system = \"s\"; outputs = [ \"lib\" \"out\" ]; }; }",
            "-A",
            "x",
        ],
    );
    assert_eq!(code, 0);
    assert!(out.ends_with("-x.drv!lib\n"), "{out}");
    let (code, _, err) = run(Path::new(BIN), &["--readonly-mode", "-E", "42"]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "error: expression does not evaluate to a derivation (or a set or list of those)\n"
    );
    if let Some(nix) = nix_instantiate() {
        let (ncode, _, nerr) = run(&nix, &["--readonly-mode", "-E", "42"]);
        assert_eq!((ncode, nerr), (code, err));
    }
}
