//! Golden and differential tests for evaluation.
//!
//! The corpus lives in `tests/eval/{ok,fail}/*.nix`; helper files that the tests import or read
//! live in `tests/eval/data/`. Beside each `X.nix`, Nix 2.8's behaviour under
//! `nix-instantiate --eval --strict X.nix` (run from the repository root with a relative path)
//! is recorded by `tests/eval/record.sh`:
//!
//! - `X.exp`: stdout, when Nix evaluates the file (exit status 0);
//! - `X.err.exp`: stderr, when it does not (exit status 1);
//! - `X.ferrix.exp` / `X.ferrix.err.exp` (optional, written by hand): what Ferrix prints where
//!   it deliberately differs from Nix (stdout with exit status 0, or stderr with exit
//!   status 1); either takes precedence over the recorded expectation.
//!
//! The flags depend on the file name: `lazy-*.nix` runs without `--strict`, and `trace-*.nix`
//! runs with `--show-trace`. In all recorded text the absolute directory of the test file is
//! replaced by `$DIR`, its parent directory by `$DIR/..`, and `$HOME` by `$HOME`.
//!
//! `golden`: runs `ferrix instantiate --eval …` on every file and compares the exit status,
//! and stdout (success) or stderr (failure). On a stderr line starting with
//! `error: syntax error, unexpected`, the `, expecting …` suffix is ignored on both sides.
//!
//! `nix_reference`: when `nix-instantiate` 2.8 is on PATH, re-runs it on every file and checks
//! that the recorded expectations still match exactly (this guards the corpus itself).
//!
//! `EVAL_GOLDEN_FILTER=substring` restricts both tests to corpus files whose path contains it.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

mod common;
use common::golden::*;

/// A run that takes longer than this is killed and reported (e.g. an evaluation that loops).
const TIMEOUT: Duration = Duration::from_secs(30);
/// The corpus directory, relative to the repository root.
const CORPUS: &str = "tests/eval";

/// The package root, canonicalised the way `getcwd()` reports it to the child processes.
fn repo_root() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    fs::canonicalize(&dir).unwrap_or(dir)
}

struct Case {
    /// Path relative to the repository root, with `/` separators, e.g. `tests/eval/ok/x.nix`.
    rel: String,
    /// Absolute path of the `.nix` file.
    path: PathBuf,
    /// Whether the file lives under `ok/` (Nix evaluates it) or `fail/`.
    in_ok_dir: bool,
}

impl Case {
    fn sibling(&self, ext: &str) -> PathBuf {
        let stem = self
            .path
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        self.path.with_file_name(format!("{stem}.{ext}"))
    }

    fn dir(&self) -> &Path {
        self.path.parent().unwrap()
    }

    fn name(&self) -> String {
        self.path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    /// The `nix-instantiate` flags for this file (before the file name).
    fn flags(&self) -> Vec<&'static str> {
        let name = self.name();
        let mut flags = vec!["--eval"];
        if !name.starts_with("lazy-") {
            flags.push("--strict");
        }
        if name.starts_with("trace-") {
            flags.push("--show-trace");
        }
        flags
    }
}

fn corpus(root: &Path) -> Vec<Case> {
    let filter = std::env::var("EVAL_GOLDEN_FILTER").unwrap_or_default();
    let mut cases = Vec::new();
    for (sub, in_ok_dir) in [("ok", true), ("fail", false)] {
        let dir = root.join(CORPUS).join(sub);
        let entries =
            fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "nix") {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                let rel = format!("{CORPUS}/{sub}/{name}");
                if rel.contains(&filter) {
                    cases.push(Case {
                        rel,
                        path,
                        in_ok_dir,
                    });
                }
            }
        }
    }
    cases.sort_by(|a, b| a.rel.cmp(&b.rel));
    assert!(
        !cases.is_empty() || !filter.is_empty(),
        "no corpus files found under {}/{CORPUS}",
        root.display()
    );
    cases
}

/// Recorded expectation of one corpus file; the flag tells whether it came from a
/// hand-written `.ferrix.exp` / `.ferrix.err.exp`.
enum Expected {
    /// Exit status 0 with this stdout.
    Success(Vec<u8>, bool),
    /// Exit status 1 with this stderr.
    Failure(Vec<u8>, bool),
}

fn read_opt(path: &Path) -> Option<Vec<u8>> {
    match fs::read(path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => panic!("cannot read {}: {e}", path.display()),
    }
}

/// Loads the expectation for a case; `for_ferrix` selects whether the `.ferrix.*` overrides
/// apply.
fn expected(case: &Case, for_ferrix: bool) -> Result<Expected, String> {
    let exp = read_opt(&case.sibling("exp"));
    let err = read_opt(&case.sibling("err.exp"));
    let ferrix_exp = read_opt(&case.sibling("ferrix.exp"));
    let ferrix_err = read_opt(&case.sibling("ferrix.err.exp"));
    let nix = match (exp, err) {
        (None, None) => {
            return Err(format!(
                "{}: neither .exp nor .err.exp exists (run {CORPUS}/record.sh)",
                case.rel
            ))
        }
        (Some(_), Some(_)) => {
            return Err(format!(
                "{}: both .exp and .err.exp exist (run {CORPUS}/record.sh)",
                case.rel
            ))
        }
        (Some(e), None) => Expected::Success(e, false),
        (None, Some(e)) => Expected::Failure(e, false),
    };
    match (ferrix_exp, ferrix_err) {
        (Some(_), Some(_)) => Err(format!(
            "{}: both .ferrix.exp and .ferrix.err.exp exist",
            case.rel
        )),
        (Some(f), None) if for_ferrix => Ok(Expected::Success(f, true)),
        (None, Some(f)) if for_ferrix => Ok(Expected::Failure(f, true)),
        _ => Ok(nix),
    }
}

struct Outcome {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Runs `program args… <case.rel>` from the repository root with the test environment.
/// `scratch` is a private directory for the output files of this run.
fn run(
    program: &str,
    args: &[&str],
    case: &Case,
    root: &Path,
    home: &Path,
    scratch: &Path,
) -> Result<Outcome, String> {
    let out_path = scratch.join("stdout");
    let err_path = scratch.join("stderr");
    let create = |p: &Path| File::create(p).map_err(|e| format!("{}: {e}", p.display()));
    let mut cmd = Command::new(program);
    cmd.args(args)
        .args(case.flags())
        .arg(&case.rel)
        .current_dir(root)
        .env("NIX_REMOTE", "dummy://")
        .env("HOME", home)
        .env("LC_ALL", "C")
        .env_remove("NIX_PATH")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_CONFIG_DIRS")
        .env_remove("XDG_DATA_HOME")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("XDG_STATE_HOME")
        .stdin(Stdio::null())
        .stdout(create(&out_path)?)
        .stderr(create(&err_path)?);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("{}: cannot run {program}: {e}", case.rel))?;
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{}: {program} did not finish within {}s and was killed",
                    case.rel,
                    TIMEOUT.as_secs()
                ));
            }
            Ok(None) => {
                thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(e) => return Err(format!("{}: waiting for {program}: {e}", case.rel)),
        }
    };
    let read = |p: &Path| fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    Ok(Outcome {
        status,
        stdout: read(&out_path)?,
        stderr: read(&err_path)?,
    })
}

/// Replaces the test file's directory by `$DIR`, its parent by `$DIR/..` and the home
/// directory by `$HOME` (the same substitutions as tests/eval/record.sh).
fn substitute(text: &[u8], case: &Case, root: &Path, home: &Path) -> Vec<u8> {
    // The canonical directory first (that is what the child's getcwd() reports), then the
    // directory as Cargo spelled it, in case they differ.
    let mut dirs = vec![case.dir().to_path_buf()];
    let spelled =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(case.dir().strip_prefix(root).unwrap());
    if spelled != dirs[0] {
        dirs.push(spelled);
    }
    let mut out = text.to_vec();
    for dir in &dirs {
        out = replace_all(&out, dir.to_string_lossy().as_bytes(), b"$DIR");
    }
    for dir in &dirs {
        if let Some(parent) = dir.parent() {
            out = replace_all(&out, parent.to_string_lossy().as_bytes(), b"$DIR/..");
        }
    }
    replace_all(&out, home.to_string_lossy().as_bytes(), b"$HOME")
}

/// Runs `check` on every case in parallel and returns the error reports, in corpus order.
fn for_all_cases<F>(cases: &[Case], check: F) -> Vec<String>
where
    F: Fn(&Case, &Path) -> Option<String> + Sync,
{
    let scratch = tempfile::tempdir().expect("cannot create a temporary directory");
    // The children spend part of their time waiting, so run more of them than there are CPUs.
    let workers = thread::available_parallelism()
        .map(|n| n.get() * 2)
        .unwrap_or(8)
        .clamp(4, 16);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, String)>> = Mutex::new(Vec::new());
    thread::scope(|s| {
        for w in 0..workers {
            let dir = scratch.path().join(format!("w{w}"));
            fs::create_dir(&dir).expect("cannot create a scratch directory");
            let (next, results, check) = (&next, &results, &check);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(case) = cases.get(i) else { break };
                if let Some(report) = check(case, &dir) {
                    results.lock().unwrap().push((i, report));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// Every `.exp` / `.err.exp` / `.ferrix.exp` / `.ferrix.err.exp` must belong to a corpus file.
fn stray_expectations(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["ok", "fail"] {
        let dir = root.join(CORPUS).join(sub);
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        let names: BTreeSet<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        for name in &names {
            let stem = [".ferrix.err.exp", ".ferrix.exp", ".err.exp", ".exp"]
                .iter()
                .find_map(|ext| name.strip_suffix(ext));
            if let Some(stem) = stem {
                if !names.contains(&format!("{stem}.nix")) {
                    out.push(format!(
                        "{CORPUS}/{sub}/{name}: no matching {stem}.nix (stale expectation)"
                    ));
                }
            }
        }
    }
    out
}

fn finish(what: &str, total: usize, mut failures: Vec<String>, root: &Path) {
    failures.extend(stray_expectations(root));
    if failures.is_empty() {
        eprintln!("{what}: all {total} corpus files match");
        return;
    }
    let mut msg = format!(
        "{what}: {} of {total} corpus files mismatch ('-' expected, '+' actual)\n\n",
        failures.len()
    );
    for f in &failures {
        msg.push_str(f.lines().next().unwrap_or(""));
        msg.push('\n');
    }
    msg.push('\n');
    for f in &failures {
        msg.push_str(f);
        msg.push('\n');
    }
    panic!("{msg}");
}

/// A fresh HOME for the children, canonicalised so that `$HOME` substitution matches.
fn temp_home() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("cannot create a temporary HOME");
    let path = fs::canonicalize(dir.path()).unwrap();
    (dir, path)
}

#[test]
fn golden() {
    let root = repo_root();
    let cases = corpus(&root);
    let (_home_dir, home) = temp_home();
    let ferrix = env!("CARGO_BIN_EXE_ferrix");

    let failures = for_all_cases(&cases, |case, scratch| {
        let expected = match expected(case, true) {
            Ok(e) => e,
            Err(e) => return Some(e),
        };
        let outcome = match run(ferrix, &["instantiate"], case, &root, &home, scratch) {
            Ok(o) => o,
            Err(e) => return Some(e),
        };
        let stdout = substitute(&outcome.stdout, case, &root, &home);
        let stderr = substitute(&outcome.stderr, case, &root, &home);
        let code = outcome.status.code();
        match expected {
            Expected::Success(exp, from_ferrix) => {
                let file = if from_ferrix { "ferrix.exp" } else { "exp" };
                if code != Some(0) {
                    Some(format!(
                        "{}: expected success (exit status 0), got {}\n{}{}",
                        case.rel,
                        status_text(&outcome.status),
                        section("stdout (expected)", &exp, &stdout),
                        section("stderr", b"", &stderr)
                    ))
                } else if stdout != exp {
                    Some(format!(
                        "{}: stdout differs from .{file}\n{}",
                        case.rel,
                        diff(&exp, &stdout)
                    ))
                } else {
                    None
                }
            }
            Expected::Failure(exp, from_ferrix) => {
                let file = if from_ferrix {
                    "ferrix.err.exp"
                } else {
                    "err.exp"
                };
                if code != Some(1) {
                    Some(format!(
                        "{}: expected failure (exit status 1), got {}\n{}{}",
                        case.rel,
                        status_text(&outcome.status),
                        section("stdout", b"", &stdout),
                        section("stderr", &exp, &stderr)
                    ))
                } else {
                    let (e, a) = (strip_expecting(&exp), strip_expecting(&stderr));
                    (e != a).then(|| {
                        format!(
                            "{}: stderr differs from .{file} (', expecting …' ignored)\n{}",
                            case.rel,
                            diff(&e, &a)
                        )
                    })
                }
            }
        }
    });
    let failures = apply_known_gaps(failures, &root);
    finish("ferrix instantiate --eval", cases.len(), failures, &root);
}

/// `tests/eval/known-gaps.txt` lists corpus files where Ferrix does not yet print what
/// Nix prints, each with its cause. Their mismatches are reported but do not fail the test;
/// a listed file that matches fails it, so that the list only shrinks.
fn apply_known_gaps(failures: Vec<String>, root: &Path) -> Vec<String> {
    let list = fs::read_to_string(root.join("tests/eval/known-gaps.txt")).unwrap_or_default();
    let gaps: BTreeSet<&str> = list
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .collect();
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for f in failures {
        let file = f.split(':').next().unwrap_or("").to_string();
        if gaps.contains(file.as_str()) {
            eprintln!("known gap: {}", f.lines().next().unwrap_or(""));
            seen.insert(file);
        } else {
            out.push(f);
        }
    }
    for g in gaps {
        if !seen.contains(g) {
            out.push(format!(
                "{g}: listed in tests/eval/known-gaps.txt but matches now (or does not exist): remove it from the list"
            ));
        }
    }
    out
}

/// The version line of `nix-instantiate`, or `None` if it cannot be run.
fn nix_version() -> Option<String> {
    let out = Command::new("nix-instantiate")
        .arg("--version")
        .env("NIX_REMOTE", "dummy://")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn nix_reference() {
    let Some(version) = nix_version() else {
        eprintln!(
            "note: nix-instantiate is not on PATH; skipping the check of {CORPUS} against Nix"
        );
        return;
    };
    if !version.starts_with("nix-instantiate (Nix) 2.8.") {
        eprintln!(
            "note: found `{version}`, but the corpus is recorded from Nix 2.8; \
             skipping the check of {CORPUS} against Nix"
        );
        return;
    }
    let root = repo_root();
    let cases = corpus(&root);
    let (_home_dir, home) = temp_home();

    let failures = for_all_cases(&cases, |case, scratch| {
        let expected = match expected(case, false) {
            Ok(e) => e,
            Err(e) => return Some(e),
        };
        let outcome = match run("nix-instantiate", &[], case, &root, &home, scratch) {
            Ok(o) => o,
            Err(e) => return Some(e),
        };
        let code = outcome.status.code();
        let mut problems = Vec::new();
        let wanted = if case.in_ok_dir { Some(0) } else { Some(1) };
        if code != wanted {
            problems.push(format!(
                "{}: Nix gives {}, which does not fit the directory the file is in",
                case.rel,
                status_text(&outcome.status)
            ));
        }
        match (expected, code) {
            (Expected::Success(exp, _), Some(0)) => {
                let stdout = substitute(&outcome.stdout, case, &root, &home);
                if stdout != exp {
                    problems.push(format!(
                        "{}: Nix's stdout differs from .exp (rerun {CORPUS}/record.sh)\n{}",
                        case.rel,
                        diff(&exp, &stdout)
                    ));
                }
            }
            (Expected::Failure(exp, _), Some(1)) => {
                let stderr = substitute(&outcome.stderr, case, &root, &home);
                if stderr != exp {
                    problems.push(format!(
                        "{}: Nix's stderr differs from .err.exp (rerun {CORPUS}/record.sh)\n{}",
                        case.rel,
                        diff(&exp, &stderr)
                    ));
                }
            }
            (_, _) => problems.push(format!(
                "{}: recorded expectation does not match Nix's {} (rerun {CORPUS}/record.sh)",
                case.rel,
                status_text(&outcome.status)
            )),
        }
        (!problems.is_empty()).then(|| problems.join("\n"))
    });
    finish("nix-instantiate --eval", cases.len(), failures, &root);
}
