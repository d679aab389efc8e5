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

/// Every file below `dir`, relative, with its bytes (symlinks as their targets).
fn tree(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(dir).unwrap().to_path_buf();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.file_type().is_symlink() {
                let t = std::fs::read_link(&p).unwrap();
                out.insert(rel, t.into_os_string().into_encoded_bytes());
            } else if meta.is_dir() {
                out.insert(rel, Vec::new());
                todo.push(p);
            } else {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Instantiating into a chroot store writes the same `.drv` files and sources as Nix 2.8,
/// registers them identically, and Nix verifies the result.
#[test]
fn chroot_store_matches_nix() {
    let Some(nix) = nix_instantiate() else {
        eprintln!("nix-instantiate 2.8 not installed: skipped");
        return;
    };
    let ours = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    let file = "tests/instantiate/drvs.nix";
    let (code, out, err) = run(
        Path::new(BIN),
        &["--store", ours.path().to_str().unwrap(), file],
    );
    assert_eq!(code, 0, "{err}");
    let (ncode, nout, nerr) = run(&nix, &["--store", theirs.path().to_str().unwrap(), file]);
    assert_eq!(ncode, 0, "{nerr}");
    assert_eq!(out, nout);
    let store = |d: &Path| tree(&d.join("nix/store"));
    assert_eq!(store(ours.path()), store(theirs.path()));
    let nix_store = |root: &Path, args: &[&str]| {
        let o = Command::new("nix-store")
            .args(["--store", root.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    };
    assert_eq!(
        nix_store(ours.path(), &["--dump-db"]),
        nix_store(theirs.path(), &["--dump-db"])
    );
    nix_store(ours.path(), &["--verify", "--check-contents"]);
    let drv = out.lines().nth(4).unwrap();
    assert_eq!(
        nix_store(ours.path(), &["-qR", drv]),
        nix_store(theirs.path(), &["-qR", drv])
    );
}

/// A derivation's path in a string brings its closure in as inputs: the derivations it leads
/// to with all their outputs, and every source and text file, found in what the evaluation
/// wrote itself. Into a chroot store Nix 2.8 writes the same files; in read-only mode, where
/// Nix 2.8 fails (the derivations are not in the store), Ferrix gives the same path.
#[test]
fn a_drv_path_in_a_string_brings_its_closure() {
    let file = "tests/instantiate/closure.nix";
    let ours = tempfile::tempdir().unwrap();
    let (code, out, err) = run(
        Path::new(BIN),
        &["--store", ours.path().to_str().unwrap(), file],
    );
    assert_eq!(code, 0, "{err}");
    let (code, read_only, err) = run(Path::new(BIN), &["--readonly-mode", file]);
    assert_eq!((code, &read_only), (0, &out), "{err}");
    let drv =
        std::fs::read_to_string(ours.path().join(out.trim().trim_start_matches('/'))).unwrap();
    // Outputs, input derivations, sources (and the rest), as the ATerm lists them.
    let parts: Vec<&str> = drv.split("],[").collect();
    let (inputs, sources) = (parts[1], parts[2]);
    let names = |list: &str| {
        let mut v: Vec<String> = list
            .split("\"")
            .filter(|w| w.starts_with("/nix/store/"))
            .map(|p| p[44..].to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(inputs), ["a.drv", "b.drv"]);
    assert!(inputs.contains("-a.drv\",[\"doc\",\"out\"])"), "{inputs}");
    // `t` refers to a source of its own, which comes in too.
    assert_eq!(
        names(sources),
        ["a.drv", "b.drv", "closure.nix", "drvs.nix", "t"]
    );
    if let Some(nix) = nix_instantiate() {
        let theirs = tempfile::tempdir().unwrap();
        let (ncode, nout, nerr) = run(&nix, &["--store", theirs.path().to_str().unwrap(), file]);
        assert_eq!((ncode, nout), (0, out), "{nerr}");
        let store = |d: &Path| tree(&d.join("nix/store"));
        assert_eq!(store(ours.path()), store(theirs.path()));
    }
}

/// `--add-root ROOT`: each `.drv` gets a link (ROOT, ROOT-2, …) registered in
/// `gcroots/auto` under the name Nix gives it, and the link is printed instead of the path.
#[test]
fn add_root_links_and_registers_each_derivation() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let link = dir.path().join("root");
    let expr = "let d = import ./examples/hello.nix; in [ d d ]";
    let args = |s: &Path, l: &Path| {
        vec![
            "--store".to_string(),
            s.display().to_string(),
            "--add-root".to_string(),
            l.display().to_string(),
            "-E".to_string(),
            expr.to_string(),
        ]
    };
    let a = args(&store, &link);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let (code, out, err) = run(Path::new(BIN), &a);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err, "", "no GC warning with --add-root");
    let second = dir.path().join("root-2");
    assert_eq!(out, format!("{}\n{}\n", link.display(), second.display()));
    let drv = std::fs::read_link(&link).unwrap();
    assert!(drv.to_string_lossy().ends_with("-hello.drv"), "{drv:?}");
    assert_eq!(std::fs::read_link(&second).unwrap(), drv);
    let auto = store.join("nix/var/nix/gcroots/auto");
    let mut targets: Vec<PathBuf> = std::fs::read_dir(&auto)
        .unwrap()
        .map(|e| std::fs::read_link(e.unwrap().path()).unwrap())
        .collect();
    targets.sort();
    assert_eq!(targets, vec![link.clone(), second.clone()]);
    if let Some(nix) = nix_instantiate() {
        // Nix names the registrations the same way (a hash of the link's path).
        let ours: std::collections::BTreeSet<_> = std::fs::read_dir(&auto)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        let nix_store = dir.path().join("nix-store");
        std::fs::remove_file(&link).unwrap();
        std::fs::remove_file(&second).unwrap();
        let a = args(&nix_store, &link);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let (ncode, nout, nerr) = run(&nix, &a);
        assert_eq!((ncode, nout), (0, out), "{nerr}");
        let theirs: std::collections::BTreeSet<_> =
            std::fs::read_dir(nix_store.join("nix/var/nix/gcroots/auto"))
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
        assert_eq!(ours, theirs);
    }
}

/// `--workers` splits the attributes over processes; the output, the errors (the trace, the
/// warning once, the failure that stops the rest) and the exit status are those of one
/// process, and Nix 2.8's.
#[test]
fn workers_give_the_sequential_result() {
    let drvs = [
        "--readonly-mode",
        "tests/instantiate/several.nix",
        "-A",
        "a",
        "-A",
        "b",
        "-A",
        "c",
        "-A",
        "d",
        "-A",
        "e",
    ];
    let values = [
        "--eval",
        "--strict",
        "tests/instantiate/several.nix",
        "-A",
        "v",
        "-A",
        "w",
        "-A",
        "a.name",
        "-A",
        "w.x",
    ];
    for args in [&drvs[..], &values[..]] {
        let with = |w: &str| {
            let mut v = args.to_vec();
            v.extend(["--workers", w]);
            run(Path::new(BIN), &v)
        };
        let one = with("1");
        assert!(one.1.lines().count() >= 4, "{one:?}");
        assert_eq!(with("3"), one);
        assert_eq!(with("8"), one);
        if let Some(nix) = nix_instantiate() {
            assert_eq!(run(&nix, args), one);
        }
    }
    // The processes were used.
    let home = tempfile::tempdir().unwrap();
    let o = Command::new(BIN)
        .arg("instantiate")
        .args(drvs)
        .args(["--workers", "3"])
        .current_dir(root())
        .env("NIX_REMOTE", "dummy://")
        .env("HOME", home.path())
        .env("FERRIX_SHOW_STATS", "1")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("evaluation processes: 3\n"));
}
