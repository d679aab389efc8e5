//! The command-line surface of `ferrix`: flags accepted and refused as Nix 2.8 does, argv[0]
//! dispatch through `nix-*` links, `--help` and `--version`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_ferrix");

/// Links named after the Nix programs, pointing at the ferrix binary.
struct Links {
    dir: tempfile::TempDir,
}

impl Links {
    fn new() -> Links {
        let dir = tempfile::tempdir().expect("temporary directory");
        for name in [
            "nix-instantiate",
            "nix-build",
            "nix-store",
            "nix-daemon",
            "nix-hash",
        ] {
            std::os::unix::fs::symlink(BIN, dir.path().join(name)).expect("symlink");
        }
        Links { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn run(program: &Path, args: &[&str]) -> Output {
    // Tests that need a store name one with `--store`; none may reach the machine's /nix.
    static STATE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    Command::new(program)
        .args(args)
        .env("NIX_REMOTE", "dummy://")
        // Builds lock their build user here, not in the machine's /nix/var/nix.
        .env(
            "NIX_STATE_DIR",
            STATE.get_or_init(|| tempfile::tempdir().unwrap()).path(),
        )
        .output()
        .expect("run ferrix")
}

fn ferrix(args: &[&str]) -> Output {
    run(Path::new(BIN), args)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The arguments parsed and the command reported that it is not implemented yet (exit 1),
/// which is distinguishable from a usage error.
#[track_caller]
fn assert_not_implemented(o: &Output, what: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "stderr: {err}");
    assert_eq!(
        err,
        format!("error: '{what}' is not implemented yet\n"),
        "unexpected stderr"
    );
}

/// A usage error with Nix's two-line report.
#[track_caller]
fn assert_usage_error(o: &Output, msg: &str, program: &str) {
    assert_eq!(o.status.code(), Some(1), "stderr: {}", stderr(o));
    assert_eq!(
        stderr(o),
        format!("error: {msg}\nTry '{program} --help' for more information.\n")
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn instantiate_accepts_its_flags() {
    let cases: &[&[&str]] = &[
        &["--find-file", "-E", "1 + 2"],
        &["--find-file", "--strict", "--json", "-E", "{}"],
        &[
            "--find-file",
            "--xml",
            "--no-location",
            "f.nix",
            "-A",
            "a.b",
            "--attr",
            "c",
        ],
        &["--find-file", "--eval-only", "--read-write-mode", "-"],
        &[
            "--find-file",
            "--arg",
            "x",
            "1",
            "--argstr",
            "y",
            "-two",
            "-I",
            "/p",
            "-I/q",
        ],
        &[
            "--find-file",
            "--include",
            "/p",
            "--option",
            "sandbox",
            "false",
            "--show-trace",
        ],
        &[
            "--find-file",
            "-vvv",
            "--quiet",
            "--debug",
            "-Q",
            "-j4",
            "--max-jobs",
            "auto",
        ],
        &[
            "--find-file",
            "--cores",
            "2",
            "-k",
            "-K",
            "--fallback",
            "--readonly-mode",
        ],
        &[
            "--find-file",
            "--log-format",
            "raw",
            "--store",
            "/tmp/s",
            "--impure",
        ],
        &[
            "--find-file",
            "--no-gc-warning",
            "--timeout",
            "3",
            "--max-silent-time",
            "4",
        ],
        &[
            "--find-file",
            "--eval-store",
            "auto",
            "--override-flake",
            "a",
            "b",
        ],
        &[
            "--find-file",
            "--no-sandbox",
            "--sandbox-paths",
            "/bin/sh=/bin/busybox",
        ],
        &[
            "--find-file",
            "--substituters",
            "",
            "--pure-eval",
            "--no-show-trace",
        ],
        &[
            "--find-file",
            "--relaxed-sandbox",
            "--system",
            "x86_64-linux",
            "--",
            "-",
        ],
        &["--find-file", "a.nix", "--strict", "b.nix", "-v", "c.nix"],
    ];
    // The flags are accepted: `--find-file` then looks up the remaining words, and fails
    // only on those it cannot find.
    for args in cases {
        let o = ferrix(&[&["instantiate"], *args].concat());
        let err = stderr(&o);
        if o.status.success() {
            assert_eq!(err, "", "{args:?}");
        } else {
            assert!(
                err.starts_with("error: file '")
                    && err.contains("was not found in the Nix search path"),
                "{args:?}: {err}"
            );
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("default.nix");
    let o = ferrix(&[
        "instantiate",
        missing.to_str().unwrap(),
        "--add-root",
        "r",
        "--indirect",
        "--repair",
        "--dry-run",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("default.nix"), "{}", stderr(&o));
}

#[test]
fn instantiate_parse_reaches_the_parser() {
    // `--parse` goes to src/instantiate.rs; whatever it does, it is not a usage error.
    let o = ferrix(&[
        "instantiate",
        "--parse",
        "-E",
        "1",
        "-vv",
        "--arg",
        "a",
        "b",
    ]);
    assert!(!stderr(&o).contains("Try '"), "stderr: {}", stderr(&o));
}

#[test]
fn build_accepts_its_flags() {
    let cases: &[&[&str]] = &[
        &[],
        &["default.nix", "-A", "hello", "-o", "out", "--arg", "a", "1"],
        &[
            "-E",
            "with import <nixpkgs> {}; hello",
            "--no-out-link",
            "--dry-run",
        ],
        &[
            "--no-link",
            "--add-root",
            "r",
            "--indirect",
            "--add-drv-link",
            "--drv-link",
            "d",
        ],
        &[
            "--repair",
            "--check",
            "--out-link",
            "o",
            "--attr",
            "a",
            "-K",
            "-k",
            "-j",
            "2",
        ],
        &[
            "--run-env",
            "--exclude",
            "x",
            "--pure",
            "--keep",
            "HOME",
            "--impure",
            "-",
        ],
        &[
            "-I",
            "nixpkgs=/p",
            "--argstr",
            "a",
            "b",
            "--option",
            "x",
            "y",
            "--store",
            "/s",
        ],
    ];
    for args in cases {
        // Against a store without paths (the last --store wins), so that nothing is built:
        // the arguments must get past parsing.
        let o = ferrix(&[&["build"], *args, &["--store", "dummy://"]].concat());
        let err = stderr(&o);
        assert!(
            !err.contains("--help' for more information") && !err.contains("not implemented"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn store_accepts_its_operations_and_flags() {
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "--realise",
                "/nix/store/x",
                "--dry-run",
                "--check",
                "--ignore-unknown",
            ],
            "--realise",
        ),
        (
            &[
                "-r",
                "--repair",
                "-j3",
                "--add-root",
                "r",
                "--indirect",
                "--no-output",
            ],
            "--realise",
        ),
        (&["--realize", "x"], "--realise"),
        (&["--add", "f"], "--add"),
        (&["-A", "f"], "--add"),
        (
            &["--add-fixed", "--recursive", "sha256", "f"],
            "--add-fixed",
        ),
        (
            &["--print-fixed-path", "sha256", "h", "n"],
            "--print-fixed-path",
        ),
        (&["--delete", "--ignore-liveness", "p"], "--delete"),
        (&["--query", "--outputs", "p"], "--query"),
        (&["-qR", "--include-outputs", "p"], "--query"),
        (
            &["-q", "--requisites", "-f", "--use-output", "p"],
            "--query",
        ),
        (&["-q", "--references", "p"], "--query"),
        (&["-q", "--referrers", "p"], "--query"),
        (&["-q", "--referrers-closure", "p"], "--query"),
        (&["-q", "--deriver", "p"], "--query"),
        (&["-q", "--binding", "name", "p"], "--query"),
        (&["-q", "--hash", "p"], "--query"),
        (&["-q", "--size", "p"], "--query"),
        (&["-q", "--tree", "p"], "--query"),
        (&["-q", "--graph", "p"], "--query"),
        (&["-q", "--graphml", "p"], "--query"),
        (&["-q", "--resolve", "p"], "--query"),
        (&["-q", "--roots", "p"], "--query"),
        (&["--print-env", "d.drv"], "--print-env"),
        (&["--read-log", "p"], "--read-log"),
        (&["-l", "p"], "--read-log"),
        (&["--dump-db"], "--dump-db"),
        (&["--load-db"], "--load-db"),
        (
            &["--register-validity", "--reregister", "--hash-given"],
            "--register-validity",
        ),
        (
            &["--check-validity", "--print-invalid", "p"],
            "--check-validity",
        ),
        (&["--gc"], "--gc"),
        (&["--gc", "--print-roots"], "--gc"),
        (&["--gc", "--print-live"], "--gc"),
        (&["--gc", "--print-dead", "--max-freed", "1G"], "--gc"),
        (&["--dump", "p"], "--dump"),
        (&["--restore", "p"], "--restore"),
        (&["--export", "p"], "--export"),
        (&["--import"], "--import"),
        (&["--init"], "--init"),
        (&["--verify", "--check-contents", "--repair"], "--verify"),
        (&["--verify-path", "p"], "--verify-path"),
        (&["--repair-path", "p"], "--repair-path"),
        (&["--optimise"], "--optimise"),
        (&["--optimize"], "--optimise"),
        (&["--serve", "--write"], "--serve"),
        (
            &[
                "--generate-binary-cache-key",
                "n",
                "/nonexistent/ferrix-test/s",
                "/nonexistent/ferrix-test/p",
            ],
            "--generate-binary-cache-key",
        ),
        (
            &["--gc", "--store", "dummy://", "--option", "a", "b", "-vv"],
            "--gc",
        ),
    ];
    for (args, op) in cases {
        if STORE_OPS_IMPLEMENTED.contains(op) {
            // Run against a store without paths, so that nothing on this machine is touched:
            // the arguments must get past parsing (no usage error).
            let o = ferrix(&[&["store", "--store", "dummy://"], *args].concat());
            let err = stderr(&o);
            assert!(
                !err.contains("--help' for more information") && !err.contains("not implemented"),
                "{args:?}: {err}"
            );
        } else {
            let o = ferrix(&[&["store"], *args].concat());
            assert_not_implemented(&o, &format!("ferrix store {op}"));
        }
    }
}

/// The `nix-store` operations that do their work (the others report "not implemented").
const STORE_OPS_IMPLEMENTED: &[&str] = &[
    "--realise",
    "--repair-path",
    "--verify-path",
    "--read-log",
    "--add",
    "--add-fixed",
    "--print-fixed-path",
    "--delete",
    "--query",
    "--print-env",
    "--dump-db",
    "--load-db",
    "--register-validity",
    "--check-validity",
    "--dump",
    "--restore",
    "--export",
    "--import",
    "--init",
    "--verify",
    "--gc",
    "--serve",
    "--generate-binary-cache-key",
    "--optimise",
];

#[test]
fn store_rejects_like_nix() {
    let l = Links::new();
    let s = l.path("nix-store");
    assert_usage_error(&run(&s, &[]), "no operation specified", "nix-store");
    assert_usage_error(&run(&s, &["--foo"]), "no operation specified", "nix-store");
    assert_usage_error(
        &run(&s, &["-r", "--gc"]),
        "only one operation may be specified",
        "nix-store",
    );
    assert_usage_error(
        &run(&s, &["--add", "--foo", "x"]),
        "unknown flag",
        "nix-store",
    );
    assert_usage_error(
        &run(&s, &["-q", "--foo", "x"]),
        "unknown flag '--foo'",
        "nix-store",
    );
    assert_usage_error(
        &run(&s, &["-q", "--tree", "--graph", "x"]),
        "query type '--graph' conflicts with earlier flag",
        "nix-store",
    );
    assert_usage_error(
        &run(&s, &["--gc", "--bogus"]),
        "bad sub-operation '--bogus' in GC",
        "nix-store",
    );
    assert_usage_error(
        &run(&s, &["--gc", "--max-freed", "abc"]),
        "invalid unit specifier 'C'",
        "nix-store",
    );
    assert_usage_error(
        &run(&s, &["--gc", "--max-freed"]),
        "'--max-freed' requires an argument",
        "nix-store",
    );
    assert_usage_error(
        &run(&s, &["--dump"]),
        "only one argument allowed",
        "nix-store",
    );
    assert_usage_error(
        &run(&s, &["--verify-path", "--x", "p"]),
        "no flags expected",
        "nix-store",
    );
}

#[test]
fn daemon_accepts_its_flags() {
    // The flags parse; the store (`dummy://` here) is what the daemon refuses.
    for args in [&["daemon"][..], &["daemon", "--daemon", "-vv"]] {
        let o = ferrix(args);
        assert_eq!(o.status.code(), Some(1));
        assert_eq!(stderr(&o), "error: nix-daemon serves a local store only\n");
    }
    // `--stdio` with a local store serves standard input, which ends before the greeting.
    let store = tempfile::tempdir().unwrap();
    let o = ferrix(&[
        "daemon",
        "--stdio",
        "--option",
        "sandbox",
        "false",
        "--store",
        store.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("end-of-file"), "{}", stderr(&o));
    // Not in Nix 2.8.
    assert_usage_error(
        &ferrix(&["daemon", "--process-ops"]),
        "unrecognised flag '--process-ops'",
        "nix-daemon",
    );
    assert_usage_error(
        &ferrix(&["daemon", "x"]),
        "unexpected argument 'x'",
        "nix-daemon",
    );
}

#[test]
fn repl_accepts_its_flags() {
    let cases: &[&[&str]] = &[
        &[],
        &["a.nix", "b.nix"],
        &[
            "-I",
            "nixpkgs=/p",
            "--arg",
            "a",
            "1",
            "--argstr",
            "b",
            "c",
            "f.nix",
        ],
        &[
            "--impure",
            "--include",
            "/p",
            "-L",
            "--offline",
            "--refresh",
            "--debug",
        ],
        &[
            "--option",
            "x",
            "y",
            "-vvv",
            "--quiet",
            "--keep-going",
            "--cores",
            "3",
            "--store",
            "/s",
        ],
    ];
    for args in cases {
        // With no input the REPL greets, loads what it can and leaves at end of input.
        let o = ferrix(&[&["repl"], *args].concat());
        assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
        assert!(
            stdout(&o).starts_with("Welcome to Ferrix"),
            "{}",
            stdout(&o)
        );
    }
    // `nix repl` has no LegacyArgs flags.
    for flag in [
        "-k",
        "-K",
        "-Q",
        "--readonly-mode",
        "--no-gc-warning",
        "-E",
        "--foo",
    ] {
        assert_usage_error(
            &ferrix(&["repl", flag]),
            &format!("unrecognised flag '{flag}'"),
            "nix",
        );
    }
}

#[test]
fn hash_accepts_its_flags() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    std::fs::write(&f, "hello\n").unwrap();
    let f = f.to_str().unwrap();
    let o = ferrix(&["hash", "--type", "sha256", "--flat", "--base32", f]);
    assert_eq!(
        stdout(&o),
        "00xyyr3fi8l6hb839bv3f7yb86yjv7xi1cgh1xnhipym4asvb4aq\n",
        "{}",
        stderr(&o)
    );
    let o = ferrix(&["hash", "--truncate", "--type", "sha256", "--flat", f]);
    assert_eq!(stdout(&o).trim().len(), 40);
    let h = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
    let o = ferrix(&["hash", "--to-base32", "--type", "sha256", h]);
    assert_eq!(
        stdout(&o),
        "00xyyr3fi8l6hb839bv3f7yb86yjv7xi1cgh1xnhipym4asvb4aq\n"
    );
    let o = ferrix(&[
        "hash",
        "--to-base16",
        "--type",
        "sha256",
        "00xyyr3fi8l6hb839bv3f7yb86yjv7xi1cgh1xnhipym4asvb4aq",
    ]);
    assert_eq!(stdout(&o), format!("{h}\n"));
    // --base16, --base64 and --sri came after Nix 2.8.
    for flag in ["--sri", "--base64", "--base16"] {
        assert_usage_error(
            &ferrix(&["hash", flag, "f"]),
            &format!("unrecognised flag '{flag}'"),
            "nix-hash",
        );
    }
    assert_usage_error(
        &ferrix(&["hash", "--type", "foo", "f"]),
        "unknown hash algorithm 'foo'",
        "nix-hash",
    );
}

#[test]
fn unknown_flags_are_rejected_like_nix() {
    let l = Links::new();
    let cases: &[(&str, &[&str], &str)] = &[
        ("nix-instantiate", &["--foo"], "unrecognised flag '--foo'"),
        (
            "nix-instantiate",
            &["--eval", "f.nix", "--foo", "--version"],
            "unrecognised flag '--foo'",
        ),
        (
            "nix-instantiate",
            &["--attr=x"],
            "unrecognised flag '--attr=x'",
        ),
        ("nix-instantiate", &["-Afoo"], "unrecognised flag '-o'"),
        ("nix-instantiate", &["-h"], "unrecognised flag '-h'"),
        (
            "nix-instantiate",
            &["--", "--foo"],
            "unexpected argument '--foo'",
        ),
        (
            "nix-instantiate",
            &["--attr"],
            "'--attr' requires an argument",
        ),
        (
            "nix-instantiate",
            &["--arg", "a"],
            "flag '--arg' requires 2 argument(s)",
        ),
        (
            "nix-instantiate",
            &["-I"],
            "flag '-I' requires 1 argument(s)",
        ),
        (
            "nix-instantiate",
            &["--cores", "1.5"],
            "'1.5' is not an integer",
        ),
        (
            "nix-instantiate",
            &["--log-type", "raw"],
            "unrecognised flag '--log-type'",
        ),
        ("nix-build", &["--foo"], "unrecognised flag '--foo'"),
        ("nix-build", &["-o"], "'-o' requires an argument"),
        ("nix-daemon", &["--foo"], "unrecognised flag '--foo'"),
        ("nix-daemon", &["-"], "unrecognised flag '-'"),
        ("nix-hash", &["--foo"], "unrecognised flag '--foo'"),
    ];
    for (program, args, msg) in cases {
        assert_usage_error(&run(&l.path(program), args), msg, program);
    }
    // The subcommands report in the name of the Nix program they stand in for.
    assert_usage_error(
        &ferrix(&["instantiate", "--foo"]),
        "unrecognised flag '--foo'",
        "nix-instantiate",
    );
    assert_usage_error(
        &ferrix(&["build", "--foo"]),
        "unrecognised flag '--foo'",
        "nix-build",
    );
}

#[test]
fn argv0_dispatch() {
    let l = Links::new();
    let o = run(&l.path("nix-instantiate"), &["--eval", "-E", "1 + 1"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), "2\n");
    let o = run(
        &l.path("nix-instantiate"),
        &["--find-file", "-I", "root=/", "root"],
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), "/\n");
    let o = run(
        &l.path("nix-build"),
        &["-A", "hello", "--store", "dummy://", "-E", "{}"],
    );
    // Evaluation comes first, as in Nix; the dummy store would refuse the build after it.
    assert_eq!(
        stderr(&o),
        "error: attribute 'hello' in selection path 'hello' not found\n"
    );
    // `--serve` through the link: a client that sends nothing gets Nix 2.8's error.
    let o = run(&l.path("nix-store"), &["--serve"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "error: unexpected end-of-file\n");
    assert_eq!(
        stderr(&run(&l.path("nix-daemon"), &["--stdio"])),
        "error: nix-daemon serves a local store only\n"
    );
    let o = run(
        &l.path("nix-hash"),
        &["--type", "sha256", "/nonexistent-ferrix-test"],
    );
    assert_eq!(
        stderr(&o),
        "error: getting status of '/nonexistent-ferrix-test': No such file or directory\n"
    );
    // Through a link, the first argument is not a subcommand name.
    let store = tempfile::tempdir().unwrap();
    let o = run(
        &l.path("nix-build"),
        &["build", "--store", store.path().to_str().unwrap()],
    );
    assert!(
        stderr(&o).ends_with("/build': No such file or directory\n"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn version() {
    let l = Links::new();
    for program in [
        "nix-instantiate",
        "nix-build",
        "nix-store",
        "nix-daemon",
        "nix-hash",
    ] {
        let o = run(&l.path(program), &["--version"]);
        assert_eq!(o.status.code(), Some(0));
        assert_eq!(stdout(&o), format!("{program} (Ferrix) 0.1.0\n"));
        assert!(o.stderr.is_empty());
    }
    let o = ferrix(&["instantiate", "--version", "--foo"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "--version acts before later flags are looked at"
    );
    assert_eq!(stdout(&o), "nix-instantiate (Ferrix) 0.1.0\n");
    let o = ferrix(&["--version"]);
    assert_eq!(stdout(&o), "ferrix (Ferrix) 0.1.0\n");
    let o = ferrix(&["repl", "--version"]);
    assert_eq!(stdout(&o), "nix (Ferrix) 0.1.0\n");
    // nix-store treats --version as an operation.
    let o = ferrix(&["store", "--version", "-q"]);
    assert_usage_error(&o, "only one operation may be specified", "nix-store");
    let o = ferrix(&["instantiate", "-vv", "--version"]);
    assert!(stdout(&o).starts_with("nix-instantiate (Ferrix) 0.1.0\nSystem type: "));
}

#[test]
fn help() {
    let o = ferrix(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    for sub in ["instantiate", "build", "store", "daemon", "repl", "hash"] {
        assert!(stdout(&o).contains(sub), "{sub} missing from ferrix --help");
    }
    for (sub, flag) in [
        ("instantiate", "--find-file"),
        ("build", "--no-out-link"),
        ("store", "--generate-binary-cache-key"),
        ("daemon", "--stdio"),
        ("repl", "--print-build-logs"),
        ("hash", "--to-base32"),
    ] {
        let o = ferrix(&[sub, "--help"]);
        assert_eq!(o.status.code(), Some(0));
        assert!(
            stdout(&o).contains(flag),
            "{flag} missing from ferrix {sub} --help"
        );
        assert!(o.stderr.is_empty());
    }
    let l = Links::new();
    let o = run(&l.path("nix-store"), &["-q", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("--query"));
}

#[test]
fn top_level_errors() {
    let o = ferrix(&[]);
    assert_eq!(o.status.code(), Some(1));
    let o = ferrix(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("'frobnicate'"));
    let o = ferrix(&["--frobnicate"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("error: unrecognised flag '--frobnicate'\n"));
}

#[test]
fn odd_arguments_never_panic() {
    use std::os::unix::ffi::OsStrExt;
    let odd: &[&[u8]] = &[
        b"",
        b"-",
        b"--",
        b"---",
        b"-\xff",
        b"\xff\xfe",
        b"-\xc3\xa9",
        b"--=",
        b"-=x",
    ];
    for sub in ["instantiate", "build", "store", "daemon", "repl", "hash"] {
        for a in odd {
            let o = Command::new(BIN)
                .arg(sub)
                .arg(std::ffi::OsStr::from_bytes(a))
                .env("NIX_REMOTE", "dummy://")
                .output()
                .expect("run ferrix");
            let code = o.status.code();
            assert!(
                code == Some(0) || code == Some(1),
                "{sub} {a:?}: {code:?} {}",
                stderr(&o)
            );
            assert!(
                !stderr(&o).contains("panicked"),
                "{sub} {a:?}: {}",
                stderr(&o)
            );
        }
    }
}

/// Where Nix 2.8 is installed, the same bad command lines give the same report from both.
#[test]
fn usage_errors_match_nix() {
    let have_nix = Command::new("nix-instantiate")
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("(Nix) 2.8"));
    if !have_nix {
        eprintln!("nix-instantiate 2.8 not found; skipping");
        return;
    }
    let l = Links::new();
    let cases: &[(&str, &[&str])] = &[
        ("nix-instantiate", &["--foo"]),
        ("nix-instantiate", &["-Afoo"]),
        ("nix-instantiate", &["-Inixpkgs=/q"]),
        ("nix-instantiate", &["--attr=x"]),
        ("nix-instantiate", &["--", "--foo"]),
        ("nix-instantiate", &["--attr"]),
        ("nix-instantiate", &["--add-root"]),
        ("nix-instantiate", &["--arg", "a"]),
        ("nix-instantiate", &["--option", "a"]),
        ("nix-instantiate", &["-j"]),
        ("nix-instantiate", &["--cores", "1.5"]),
        ("nix-instantiate", &["--cores", "12Q"]),
        ("nix-instantiate", &["--timeout", "-1"]),
        ("nix-instantiate", &["--no-max-jobs"]),
        ("nix-instantiate", &["--extra-cores", "1"]),
        ("nix-instantiate", &["--no-relaxed-sandbox"]),
        ("nix-instantiate", &["--sandbox-paths"]),
        ("nix-instantiate", &["--log-type", "raw"]),
        ("nix-instantiate", &["-vvvx"]),
        ("nix-instantiate", &["--eval", "--strict", "-h"]),
        ("nix-build", &["--foo"]),
        ("nix-build", &["-o"]),
        ("nix-build", &["--exclude"]),
        ("nix-build", &["--run", "x"]),
        ("nix-build", &["-p", "x"]),
        ("nix-store", &[]),
        ("nix-store", &["--foo"]),
        ("nix-store", &["-r", "--gc"]),
        ("nix-store", &["--version", "-q"]),
        ("nix-store", &["--add-root"]),
        ("nix-store", &["--gc", "--max-freed"]),
        ("nix-daemon", &["--foo"]),
        ("nix-daemon", &["x"]),
        ("nix-daemon", &["-"]),
        ("nix-daemon", &["--process-ops"]),
        ("nix-hash", &["--sri", "x"]),
        ("nix-hash", &["--type"]),
        ("nix-hash", &["--type", "foo", "x"]),
        ("nix-hash", &["-"]),
    ];
    for (program, args) in cases {
        let ours = run(&l.path(program), args);
        let theirs = Command::new(program)
            .args(*args)
            .env("NIX_STORE_DIR", "/nonexistent/store")
            .env("NIX_STATE_DIR", "/nonexistent/state")
            .output()
            .expect("run nix");
        assert_eq!(
            (ours.status.code(), stderr(&ours)),
            (theirs.status.code(), stderr(&theirs)),
            "{program} {args:?}"
        );
    }
}

/// A missing `builtins.exec`/`importNative` (or `__exec`) while the unsafe setting is off
/// gets a note naming the setting; other missing names do not.
#[test]
fn missing_unsafe_builtins_name_their_setting() {
    let note = "note: 'builtins.{}' exists only when the setting 'allow-unsafe-native-code-during-evaluation' is true";
    for (expr, name) in [
        ("builtins.exec [ \"true\" ]", Some("exec")),
        ("__importNative ./x \"y\"", Some("importNative")),
        ("__exec [ ]", Some("exec")),
        ("builtins.foo", None),
        ("{ exec = 1; }.exec2", None),
        ("__foo", None),
    ] {
        let o = ferrix(&["instantiate", "--eval", "-E", expr]);
        assert_eq!(o.status.code(), Some(1), "{expr}");
        let err = stderr(&o);
        match name {
            Some(n) => assert!(
                err.ends_with(&format!("{}\n", note.replace("{}", n))),
                "{expr}: {err}"
            ),
            None => assert!(!err.contains("note: 'builtins."), "{expr}: {err}"),
        }
    }
}
