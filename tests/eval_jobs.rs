//! `ferrix eval-jobs`: the lines it prints for a package set (against a recording whose
//! paths and failures Nix 2.8 confirms when it is installed), the same results with one
//! worker or several, workers restarted below `--max-memory-size`, garbage collector roots,
//! and its usage errors.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_ferrix");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Run {
    code: i32,
    out: String,
    err: String,
    /// The largest resident size of the command and all its workers, in KiB.
    max_rss_kib: i64,
}

/// Runs `ferrix eval-jobs ARGS` with a read-only dummy store (or `env`'s store), waiting
/// with `wait4` so that the peak resident size covers the workers too.
fn eval_jobs(args: &[&str], env: &[(&str, &Path)]) -> Run {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("eval-jobs")
        .args(args)
        .current_dir(root())
        .env_remove("NIX_PATH")
        .env("HOME", home.path())
        .env("FERRIX_SHOW_STATS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if env.is_empty() {
        cmd.env("NIX_REMOTE", "dummy://");
    } else {
        cmd.env_remove("NIX_REMOTE");
        for (k, v) in env {
            cmd.env(k, v);
        }
    }
    // Waited for below with `wait4`, which also gives the tree's resource usage.
    #[allow(clippy::zombie_processes)]
    let mut child = cmd.spawn().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        err_pipe.read_to_string(&mut s).unwrap();
        s
    });
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let err = err_thread.join().unwrap();
    let mut status = 0;
    // SAFETY: an all-zero `rusage` is a valid value of the plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `child.id()` is our unwaited child; `status` and `usage` are valid for writes.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    Run {
        code: if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -1
        },
        out,
        err,
        max_rss_kib: usage.ru_maxrss,
    }
}

fn sorted_lines(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.lines().map(str::to_string).collect();
    v.sort();
    v
}

fn workers_started(err: &str) -> usize {
    err.lines()
        .find_map(|l| l.strip_prefix("workers started: "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no worker count in: {err}"))
}

const JOBS: [&str; 6] = [
    "--readonly-mode",
    "tests/eval_jobs/jobs.nix",
    "--argstr",
    "suffix",
    "-s",
    "--workers",
];

#[test]
fn lines_match_the_recording_with_any_number_of_workers() {
    let expected = std::fs::read_to_string(root().join("tests/eval_jobs/jobs.exp")).unwrap();
    for workers in ["1", "3"] {
        let mut args = JOBS.to_vec();
        args.push(workers);
        let r = eval_jobs(&args, &[]);
        assert_eq!(r.code, 0, "{}", r.err);
        assert_eq!(sorted_lines(&r.out), sorted_lines(&expected), "{}", r.err);
        // Each line is printed whole.
        for l in r.out.lines() {
            serde_json::from_str::<serde_json::Value>(l).unwrap();
        }
    }
}

/// The recording's paths and failures are Nix 2.8's.
#[test]
fn recording_agrees_with_nix() {
    let probe = Command::new("nix-instantiate").arg("--version").output();
    let Ok(probe) = probe else {
        eprintln!("nix-instantiate not installed; skipping");
        return;
    };
    assert!(String::from_utf8_lossy(&probe.stdout).contains(" 2.8."));
    let expr = r#"
      let
        j = import ./tests/eval_jobs/jobs.nix { suffix = "-s"; };
        info = d: {
          inherit (d) drvPath name system;
          outputs = builtins.listToAttrs (map (o: { name = o; value = d.${o}.outPath; }) (d.outputs or [ "out" ]));
        };
        fails = v: !(builtins.tryEval (builtins.seq v.drvPath true)).success;
      in {
        "a" = info j.a;
        "multi" = info j.multi;
        "fn" = info (j.fn { });
        "nested.y" = info j.nested.y;
        "nested.\"with.dot\"" = info j.nested."with.dot";
        "nested.deeper.z" = info j.nested.deeper.z;
        "bad" = fails j.bad;
        "badInside" = fails j.badInside;
      }"#;
    let home = tempfile::tempdir().unwrap();
    let o = Command::new("nix-instantiate")
        .args([
            "--eval",
            "--strict",
            "--json",
            "--readonly-mode",
            "-E",
            expr,
        ])
        .current_dir(root())
        .env_remove("NIX_PATH")
        .env("NIX_REMOTE", "dummy://")
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let nix: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let expected = std::fs::read_to_string(root().join("tests/eval_jobs/jobs.exp")).unwrap();
    let mut seen = 0;
    for line in expected.lines() {
        let mut l: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line).unwrap();
        let attr = l["attr"].as_str().unwrap().to_string();
        let n = &nix[&attr];
        if l.contains_key("error") {
            assert_eq!(n, &serde_json::Value::Bool(true), "{attr} should fail");
        } else {
            l.remove("attr");
            l.remove("attrPath");
            assert_eq!(&serde_json::Value::Object(l), n, "{attr}");
        }
        seen += 1;
    }
    assert_eq!(seen, nix.len());
}

#[test]
fn workers_restart_below_the_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mem.nix");
    // Each `p` leaves about 8 MiB in its worker, so the 24 together need more than the
    // limit: whichever worker runs most of them is restarted even when `huge` (first in
    // line) goes to a fresh worker, which reports it without a retry. `huge` needs more than
    // the limit on its own, a little at a time (small sets chained one by one), so the
    // watchdog's interruption stops it.
    std::fs::write(
        &file,
        r#"
        let
          big = k: builtins.length (builtins.genList (i: "${toString i}-${toString k}") 400000);
          mk = k: derivation { name = "m${toString k}-${toString (big k)}"; system = "x"; builder = "/bin/sh"; };
          chain = n: builtins.foldl' (acc: i: builtins.foldl' (a: m: { inherit a; v = m; }) acc (builtins.genList (x: x) 1000)) null (builtins.genList (x: x) n);
        in builtins.listToAttrs (map (k: { name = "p${toString k}"; value = mk k; }) (builtins.genList (i: i) 24))
          // { huge = derivation { name = "h${toString (builtins.seq (chain 3000) 3000)}"; system = "x"; builder = "/bin/sh"; }; }
        "#,
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let limit_mib = 150;
    let limited = eval_jobs(
        &[
            "--readonly-mode",
            "--workers",
            "2",
            "--max-memory-size",
            "150",
            f,
        ],
        &[],
    );
    assert_eq!(limited.code, 0, "{}", limited.err);
    assert!(
        limited.max_rss_kib < limit_mib * 1024,
        "a process used {} KiB",
        limited.max_rss_kib
    );
    assert!(workers_started(&limited.err) > 2, "{}", limited.err);
    let lines = sorted_lines(&limited.out);
    assert_eq!(lines.len(), 25, "{}", limited.out);
    assert!(lines[0].contains(
        r#""attr":"huge","attrPath":["huge"],"error":"error: evaluation needs more than the --max-memory-size of 150 MiB""#
    ));
    // The same drvPaths as one worker without a limit gives.
    let free = eval_jobs(&["--readonly-mode", "--workers", "1", f], &[]);
    assert_eq!(free.code, 0, "{}", free.err);
    assert_eq!(workers_started(&free.err), 1);
    let free_lines = sorted_lines(&free.out);
    assert_eq!(free_lines[1..], lines[1..]);
    assert!(free_lines[0].contains("-h3000.drv"), "{}", free_lines[0]);
}

/// A single step that allocates faster than the watchdog can interrupt (one builtin filling
/// a list of millions) ends its worker; the attribute is reported, and the others are not
/// held up. (The resident size is not checked here: how far such a step gets before the
/// worker ends depends on how soon the watchdog runs on a busy machine.)
#[test]
fn a_step_too_large_for_the_limit_is_reported() {
    let expr = r#"{
      a = derivation { name = "a"; system = "x"; builder = "/bin/sh"; };
      huge = derivation { name = "h${toString (builtins.length (builtins.genList toString 20000000))}"; system = "x"; builder = "/bin/sh"; };
    }"#;
    let r = eval_jobs(
        &[
            "--readonly-mode",
            "--workers",
            "1",
            "--max-memory-size",
            "150",
            "-E",
            expr,
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.err);
    let lines = sorted_lines(&r.out);
    assert_eq!(lines.len(), 2, "{}", r.out);
    assert!(lines[0].contains(r#""attr":"a","#) && lines[0].contains("-a.drv"));
    assert!(lines[1].contains(
        r#""attr":"huge","attrPath":["huge"],"error":"error: evaluation needs more than the --max-memory-size of 150 MiB""#
    ), "{}", lines[1]);
}

#[test]
fn gc_roots_dir_links_the_written_derivations() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (store, state, roots) = (d.join("store"), d.join("state"), d.join("roots"));
    std::fs::create_dir_all(&roots).unwrap();
    let env = [
        ("NIX_STORE_DIR", store.as_path()),
        ("NIX_STATE_DIR", state.as_path()),
        ("NIX_LOG_DIR", state.as_path()),
        ("NIX_CONF_DIR", d),
    ];
    let r = eval_jobs(
        &[
            "tests/eval_jobs/jobs.nix",
            "--workers",
            "2",
            "--gc-roots-dir",
            roots.to_str().unwrap(),
        ],
        &env,
    );
    assert_eq!(r.code, 0, "{}", r.err);
    let mut drvs = 0;
    for line in r.out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let Some(drv) = v["drvPath"].as_str() else {
            continue;
        };
        drvs += 1;
        assert!(drv.starts_with(store.to_str().unwrap()), "{drv}");
        assert!(Path::new(drv).is_file(), "{drv} was not written");
        let link = roots.join(Path::new(drv).file_name().unwrap());
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new(drv));
    }
    assert_eq!(drvs, 6);
    // Each link is an indirect root.
    let auto = std::fs::read_dir(state.join("gcroots/auto"))
        .unwrap()
        .count();
    assert_eq!(auto, 6);
}

#[test]
fn root_errors_and_usage_errors() {
    let r = eval_jobs(&["-E", "throw \"no root\""], &[]);
    assert_eq!(r.code, 1);
    assert_eq!(r.out, "");
    assert!(r.err.starts_with("error: no root\n"), "{}", r.err);
    let r = eval_jobs(&[], &[]);
    assert_eq!((r.code, r.out.as_str()), (1, ""));
    assert!(
        r.err.starts_with("error: no expression specified\n"),
        "{}",
        r.err
    );
    let r = eval_jobs(&["--workers", "0", "-E", "{}"], &[]);
    assert_eq!(r.code, 1);
    assert!(
        r.err.starts_with("error: '--workers' must be at least 1\n"),
        "{}",
        r.err
    );
    // A root that is not a set has nothing to walk.
    let r = eval_jobs(&["-E", "42"], &[]);
    assert_eq!((r.code, r.out.as_str()), (0, ""), "{}", r.err);
}
