//! The evaluation settings of `nix-instantiate`, with the output Nix 2.8 gives for each
//! case: `--restrict-eval`, `--pure-eval`, `--trace-function-calls`, the `nix-path`
//! setting against `NIX_PATH` and `-I`, `--eval -E -` reading standard input, and `trace`
//! lines without colour codes when standard error is not a terminal.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_ferrix");

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    /// A directory with `a.nix` (`1 + 2`), `sub/b.nix` (`import ../a.nix`), and a link
    /// `link.nix` to `a.nix`; no configuration files, no `NIX_PATH`.
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a.nix"), "1 + 2\n").unwrap();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/b.nix"), "import ../a.nix\n").unwrap();
        std::fs::create_dir(d.join("etc")).unwrap();
        std::fs::create_dir(d.join("other")).unwrap();
        std::os::unix::fs::symlink(d.join("a.nix"), d.join("other/link.nix")).unwrap();
        Env { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("instantiate")
            .args(args)
            .current_dir(self.dir.path())
            .env("NIX_REMOTE", "dummy://")
            .env("NIX_CONF_DIR", self.path("etc"))
            .env("NIX_USER_CONF_FILES", self.path("etc/none.conf"))
            .env("HOME", self.dir.path())
            .env_remove("NIX_PATH")
            .env_remove("NIX_CONFIG");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[track_caller]
fn ok(o: &Output, want: &str) {
    assert_eq!(
        (o.status.code(), out(o).as_str()),
        (Some(0), want),
        "{}",
        err(o)
    );
}

#[track_caller]
fn fails_with(o: &Output, first_line: &str) {
    assert_eq!(o.status.code(), Some(1), "{}", out(o));
    assert_eq!(err(o).lines().next(), Some(first_line), "{}", err(o));
}

#[test]
fn restricted_evaluation_reads_only_the_search_path() {
    let e = Env::new();
    let d = e.dir.path().display().to_string();
    ok(&e.run(&["--restrict-eval", "--eval", "-E", "1 + 2"]), "3\n");
    fails_with(
        &e.run(&["--restrict-eval", "--eval", "a.nix"]),
        &format!("error: access to absolute path '{d}/a.nix' is forbidden in restricted mode"),
    );
    ok(
        &e.run(&["--restrict-eval", "--eval", "a.nix", "-I", "x=."]),
        "3\n",
    );
    // `..` cannot climb out of an allowed directory.
    fails_with(
        &e.run(&["--restrict-eval", "--eval", "sub/b.nix", "-I", "sub"]),
        &format!("error: access to absolute path '{d}/a.nix' is forbidden in restricted mode"),
    );
    let read = format!("builtins.readFile {d}/a.nix");
    fails_with(
        &e.run(&["--restrict-eval", "--eval", "-E", &read]),
        &format!("error: access to absolute path '{d}/a.nix' is forbidden in restricted mode"),
    );
    ok(
        &e.run(&["--restrict-eval", "--eval", "-E", &read, "-I", &d]),
        "\"1 + 2\\n\"\n",
    );
    // A path it may not see does not exist.
    ok(
        &e.run(&[
            "--restrict-eval",
            "--eval",
            "-E",
            "builtins.pathExists /etc/passwd",
        ]),
        "false\n",
    );
    ok(
        &e.run(&[
            "--restrict-eval",
            "--eval",
            "-E",
            "builtins.getEnv \"HOME\"",
        ]),
        "\"\"\n",
    );
    // A link is followed, and its target must be allowed too.
    let link = format!("{d}/other/link.nix");
    let other = format!("{d}/other");
    fails_with(
        &e.run(&["--restrict-eval", "--eval", &link, "-I", &other]),
        &format!("error: access to canonical path '{d}/a.nix' is forbidden in restricted mode"),
    );
    ok(
        &e.run(&["--restrict-eval", "--eval", &link, "-I", &other, "-I", &d]),
        "3\n",
    );
    // `<p>` through a search path of one's own: the result must still be allowed.
    let own = "let __nixPath = [ { prefix = \"foo\"; path = ./.; } ]; in <foo>";
    fails_with(
        &e.run(&["--restrict-eval", "--eval", "-E", own]),
        &format!("error: access to absolute path '{d}' is forbidden in restricted mode"),
    );
    ok(
        &e.run(&["--restrict-eval", "--eval", "-E", own, "-I", "src=."]),
        &format!("{d}\n"),
    );
    // Without the flag, nothing is restricted.
    ok(&e.run(&["--eval", &link]), "3\n");
}

#[test]
fn pure_evaluation() {
    let e = Env::new();
    let d = e.dir.path().display().to_string();
    fails_with(
        &e.run(&["--pure-eval", "--eval", "a.nix", "-I", "x=."]),
        &format!(
            "error: access to absolute path '{d}/a.nix' is forbidden in pure eval mode (use '--impure' to override)"
        ),
    );
    ok(
        &e.run(&["--pure-eval", "--eval", "-E", "builtins ? currentSystem"]),
        "false\n",
    );
    ok(
        &e.run(&["--pure-eval", "--eval", "-E", "builtins ? currentTime"]),
        "false\n",
    );
    // Nix 2.8 does not define them at all: their global names are undefined variables.
    for name in ["__currentSystem", "__currentTime"] {
        let o = e.run(&["--pure-eval", "--eval", "-E", name]);
        assert!(
            err(&o).starts_with(&format!(
                "error: undefined variable '{name}'\n\n       at «string»:1:1:"
            )),
            "{}",
            err(&o)
        );
        assert_eq!(o.status.code(), Some(1));
    }
    ok(
        &e.run(&["--eval", "-E", "builtins.isString __currentSystem"]),
        "true\n",
    );
    ok(
        &e.run(&[
            "--pure-eval",
            "--eval",
            "-E",
            "builtins.nixPath",
            "-I",
            "x=.",
        ]),
        "[ ]\n",
    );
    ok(
        &e.run(&["--pure-eval", "--impure", "--eval", "a.nix"]),
        "3\n",
    );
}

#[test]
fn nix_path_setting_replaces_nix_path_variable() {
    // As Nix 2.8: `-I` first, then the `nix-path` setting, whose default is `NIX_PATH`.
    let e = Env::new();
    let prefixes = [
        "--eval",
        "--strict",
        "-E",
        "map (e: e.prefix) builtins.nixPath",
    ];
    let mut args = prefixes.to_vec();
    args.extend(["-I", "c=/z"]);
    let o = e
        .cmd(&args)
        .env("NIX_PATH", "a=/x")
        .env("NIX_CONFIG", "nix-path = b=/y")
        .output()
        .unwrap();
    ok(&o, "[ \"c\" \"b\" ]\n");
    let mut args2 = args.clone();
    args2.extend(["--extra-nix-path", "d=/w"]);
    let o = e.cmd(&args2).env("NIX_PATH", "a=/x").output().unwrap();
    ok(&o, "[ \"c\" \"a\" \"d\" ]\n");
    let mut args3 = prefixes.to_vec();
    args3.extend(["--nix-path", "b=/y"]);
    let o = e.cmd(&args3).env("NIX_PATH", "a=/x").output().unwrap();
    ok(&o, "[ \"b\" ]\n");
    let o = e
        .cmd(&[
            "--eval",
            "--strict",
            "-E",
            "map (e: e.path) builtins.nixPath",
        ])
        .env("NIX_PATH", "a=https://x.org/a:b=/y")
        .output()
        .unwrap();
    ok(&o, "[ \"https://x.org/a\" \"/y\" ]\n");
}

/// The lines of `function-trace.sh` in Nix 2.8's own tests, timestamps cut off.
fn function_trace(e: &Env, expr: &str) -> Vec<String> {
    let o = e.run(&["--trace-function-calls", "--expr", expr]);
    err(&o)
        .lines()
        .filter(|l| l.contains("function-trace"))
        .map(|l| match l.rsplit_once(' ') {
            Some((head, ns)) if ns.bytes().all(|b| b.is_ascii_digit()) => head.to_owned(),
            _ => l.to_owned(),
        })
        .collect()
}

#[test]
fn trace_function_calls() {
    let e = Env::new();
    assert_eq!(
        function_trace(&e, "builtins.tryEval (throw \"example\")"),
        [
            "function-trace entered (string):1:1 at",
            "function-trace entered (string):1:19 at",
            "function-trace exited (string):1:19 at",
            "function-trace exited (string):1:1 at",
        ]
    );
    for expr in [
        "({ x }: x) { }",
        "({ x }: x) { x = \"x\"; y = \"y\"; }",
        "(x: y: x + y) 1",
        "(x: x) 1 2",
        "1 2",
    ] {
        assert_eq!(
            function_trace(&e, expr),
            [
                "function-trace entered (string):1:1 at",
                "function-trace exited (string):1:1 at",
            ],
            "{expr}"
        );
    }
    // Off by default.
    assert!(function_trace(&e, "1 2").len() == 2);
    let o = e.run(&["--eval", "-E", "(x: x) 1"]);
    assert!(!err(&o).contains("function-trace"), "{}", err(&o));
}

#[test]
fn eval_expr_from_standard_input() {
    let e = Env::new();
    let mut child = e
        .cmd(&["--eval", "-E", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"let a = {} // a; in a.foo")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let text = err(&o);
    assert!(
        text.starts_with("error: infinite recursion encountered\n\n       at «stdin»:1:15:\n"),
        "{text}"
    );
}

#[test]
fn trace_drops_colour_codes_off_a_terminal() {
    // Nix 2.8 prints `trace: X        Y` here: the escapes and the carriage return go,
    // the tab becomes spaces up to the next multiple of eight columns.
    let e = Env::new();
    let expr = r#"builtins.trace (builtins.fromJSON "\"\\u001b[1mX\\u001b[0m\\tY\\r\"") 1"#;
    let o = e.run(&["--eval", "-E", expr]);
    assert_eq!(out(&o), "1\n");
    assert_eq!(err(&o), "trace: X        Y\n");
}

#[test]
fn search_path_entry_that_does_not_exist_is_ignored() {
    let e = Env::new();
    let o = e.run(&[
        "--restrict-eval",
        "--eval",
        "-E",
        "builtins.readFile /nonexistent/x",
        "-I",
        "/nonexistent",
    ]);
    assert_eq!(
        err(&o).lines().take(2).collect::<Vec<_>>(),
        [
            "warning: Nix search path entry '/nonexistent' does not exist, ignoring",
            "error: access to absolute path '/nonexistent/x' is forbidden in restricted mode",
        ]
    );
}

#[test]
fn eval_store_takes_the_derivations() {
    // `nix-instantiate --eval-store DIR` writes the derivations to DIR's store, not to the
    // command's store (Nix 2.8's tests/eval-store.sh).
    let e = Env::new();
    let main = e.path("main");
    let evals = e.path("evals");
    let expr = "derivation { name = \"x\"; system = \"x86_64-linux\"; builder = \"/bin/sh\"; }";
    let o = e
        .cmd(&[
            "--store",
            main.to_str().unwrap(),
            "--eval-store",
            evals.to_str().unwrap(),
            "-E",
            expr,
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let drv = out(&o).trim().to_owned();
    assert!(
        drv.starts_with("/nix/store/") && drv.ends_with("-x.drv"),
        "{drv}"
    );
    assert!(evals.join(drv.trim_start_matches('/')).exists());
    assert!(!main.join(drv.trim_start_matches('/')).exists());
}
