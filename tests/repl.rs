//! `ferrix repl` driven through a real pseudo-terminal: evaluation, bindings, multi-line
//! input, every command, tab completion, Ctrl-C, history across runs, and errors.
//!
//! Each test runs the binary with a temporary `HOME` (so the history file is private),
//! `NO_COLOR` (so values print without ANSI colours, except in the colour test) and
//! fixture files written into a temporary directory.

use expectrl::session::OsSession;
use expectrl::{ControlCode, Eof, Expect, Session};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_ferrix");
const PROMPT: &str = "nix-repl> ";

type Repl = OsSession;

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::create_dir(dir.path().join("home")).expect("home");
        std::fs::write(
            dir.path().join("pkgs.nix"),
            "{ greeting ? \"hi\", extra }:\n\
             {\n\
             \x20 inherit greeting extra;\n\
             \x20 hello = { name = \"hello-2.12.1\"; pname = \"hello\"; };\n\
             \x20 lib = { double = x: x * 2; nested = { deep = 1; }; };\n\
             \x20 fakeDrv = { type = \"derivation\"; name = \"foo\";\n\
             \x20   drvPath = \"/nix/store/0000000000000000000000000000000a-foo.drv\"; };\n\
             \x20 realDrv = derivation { name = \"hi\"; system = builtins.currentSystem;\n\
             \x20   builder = \"/bin/sh\"; args = [ \"-c\" \"echo building-hi; echo hi > $out\" ]; };\n\
             }\n",
        )
        .expect("fixture");
        std::fs::write(dir.path().join("more.nix"), "{ more = 42; }\n").expect("fixture");
        Fixture { dir }
    }

    /// A chroot store inside the fixture, and busybox as the sandbox's `/bin/sh`.
    fn store_args(&self) -> Vec<String> {
        vec![
            "--store".into(),
            self.path("store"),
            "--option".into(),
            "sandbox-paths".into(),
            "/bin/sh=/bin/busybox".into(),
            // No substituters: nothing here may reach beyond loopback.
            "--option".into(),
            "substituters".into(),
            "".into(),
        ]
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    fn spawn(&self, args: &[&str], color: bool) -> Repl {
        let mut cmd = Command::new(BIN);
        cmd.arg("repl")
            .args(args)
            .args(self.store_args())
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path().join("home"))
            // The machine's nix.conf must not change what the REPL does.
            .env("NIX_CONF_DIR", self.dir.path().join("home"))
            // Builds lock their build user here, not in the machine's /nix/var/nix.
            .env("NIX_STATE_DIR", self.dir.path().join("state"))
            .env(
                "NIX_USER_CONF_FILES",
                self.dir.path().join("home/none.conf"),
            )
            .env_remove("XDG_DATA_HOME")
            .env_remove("NIX_PATH")
            .env("TERM", "xterm")
            .env("EDITOR", "true");
        if color {
            cmd.env_remove("NO_COLOR");
        } else {
            cmd.env("NO_COLOR", "1");
        }
        let mut p = Session::spawn(cmd).expect("spawn ferrix repl");
        p.set_expect_timeout(Some(Duration::from_secs(30)));
        p.expect("Welcome to Ferrix").expect("welcome line");
        p.expect(PROMPT).expect("first prompt");
        p
    }

    /// A session with `pkgs.nix` loaded (its `extra` argument from `--argstr`).
    fn spawn_loaded(&self) -> Repl {
        self.spawn(&["./pkgs.nix", "--argstr", "extra", "given"], false)
    }
}

/// Sends a line and waits until `want` appears, then for the next prompt.
fn ask(p: &mut Repl, line: &str, want: &str) {
    p.send_line(line).expect("send");
    if let Err(e) = p.expect(want) {
        panic!("after {line:?}: expected {want:?}: {e}");
    }
    p.expect(PROMPT).expect("prompt after answer");
}

fn quit(mut p: Repl) {
    p.send_line(":q").expect("send :q");
    p.expect(Eof).expect("exit after :q");
}

#[test]
fn evaluates_binds_and_continues_lines() {
    let f = Fixture::new();
    let mut p = f.spawn_loaded();
    ask(&mut p, "1 + 2", "3\r\n");
    ask(&mut p, "hello.name", "\"hello-2.12.1\"");
    ask(&mut p, "extra + greeting", "\"givenhi\"");
    ask(&mut p, "lib", "{ double = «lambda @ ");
    ask(
        &mut p,
        "{ a = { b = 1; }; l = [ 1 ]; }",
        "{ a = { ... }; l = [ ... ]; }",
    );
    ask(
        &mut p,
        "let s = { x = 1; }; in [ s s ]",
        "[ { ... } «repeated» ]",
    );
    ask(
        &mut p,
        "fakeDrv",
        "«derivation /nix/store/0000000000000000000000000000000a-foo.drv»",
    );
    ask(&mut p, "x = 6 * 7", "");
    ask(&mut p, "x + 1", "43");
    // Multi-line input: an open bracket, a `let` without `in`, an unterminated string.
    p.send_line("[ 1").unwrap();
    p.expect("          ").unwrap();
    ask(&mut p, "2 ]", "[ 1 2 ]");
    p.send_line("let y = 5;").unwrap();
    p.expect("          ").unwrap();
    ask(&mut p, "in y * x", "210");
    p.send_line("\"abc").unwrap();
    p.expect("          ").unwrap();
    ask(&mut p, "def\"", "\"abc\\ndef\"");
    quit(p);
}

#[test]
fn commands() {
    let f = Fixture::new();
    let mut p = f.spawn_loaded();
    ask(&mut p, ":?", ":doc <expr>");
    ask(&mut p, ":p lib.nested", "{ deep = 1; }");
    ask(
        &mut p,
        ":p { a = { b = [ 1 { c = 2; } ]; }; }",
        "{ a = { b = [ 1 { c = 2; } ]; }; }",
    );
    ask(&mut p, ":t lib.double", "a function");
    ask(&mut p, ":t 1", "an integer");
    ask(&mut p, ":doc builtins.map", "Synopsis: builtins.map f list");
    ask(&mut p, ":doc map (x: x)", "Synopsis: builtins.map f list");
    ask(&mut p, ":doc 1", "error: value does not have documentation");
    ask(&mut p, ":a { added = 7; }", "Added 1 variables.");
    ask(&mut p, "added", "7");
    ask(&mut p, ":l ./more.nix", "Added 1 variables.");
    ask(&mut p, "more", "42");
    // `:r` forgets bindings and reloads every file.
    ask(&mut p, ":r", "Loading './more.nix'...");
    ask(&mut p, "more + 1", "43");
    ask(&mut p, "added", "error: undefined variable 'added'");
    ask(
        &mut p,
        ":b 1",
        "expression does not evaluate to a derivation",
    );
    ask(
        &mut p,
        ":b fakeDrv",
        "path '/nix/store/0000000000000000000000000000000a-foo.drv' is not valid",
    );
    ask(
        &mut p,
        ":log fakeDrv",
        "build log of '/nix/store/0000000000000000000000000000000a-foo.drv' is not available",
    );
    if std::path::Path::new("/bin/busybox").exists() {
        ask(
            &mut p,
            ":b realDrv",
            "This derivation produced the following outputs:\r\n  out -> /nix/store/",
        );
        ask(&mut p, ":log realDrv", "building-hi");
    } else {
        eprintln!("skipping :b of a real derivation: /bin/busybox is missing");
    }
    ask(&mut p, ":i fakeDrv", "Ferrix has no profiles yet");
    ask(&mut p, ":s fakeDrv", "Ferrix has no nix-shell yet");
    ask(&mut p, ":u fakeDrv", "Ferrix has no nix-shell yet");
    ask(&mut p, ":lf nixpkgs", "Ferrix does not support flakes");
    ask(&mut p, ":e 1", "cannot tell where '1' is defined");
    // EDITOR is `true`: opening the definition succeeds and reloads the files.
    ask(&mut p, ":e lib.double", "Loading './pkgs.nix'...");
    ask(&mut p, ":st", "showing error traces");
    ask(&mut p, ":st", "not showing error traces");
    ask(&mut p, ":st maybe", "unexpected argument 'maybe' to :st");
    ask(&mut p, ":nope", "error: unknown command ':nope'");
    quit(p);
}

#[test]
fn edit_passes_the_line_to_the_editor() {
    let f = Fixture::new();
    let log = f.path("editor.log");
    let script = f.path("vim");
    std::fs::write(&script, format!("#!/bin/sh\necho \"$@\" > {log}\n")).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("repl")
        .arg("./pkgs.nix")
        .args(["--argstr", "extra", "x"])
        .args(f.store_args())
        .current_dir(f.dir.path())
        .env("HOME", f.dir.path().join("home"))
        .env("NIX_CONF_DIR", f.dir.path().join("home"))
        .env("NIX_STATE_DIR", f.dir.path().join("state"))
        .env("NIX_USER_CONF_FILES", f.dir.path().join("home/none.conf"))
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .env("EDITOR", &script);
    let mut p = Session::spawn(cmd).unwrap();
    p.set_expect_timeout(Some(Duration::from_secs(30)));
    p.expect(PROMPT).unwrap();
    ask(&mut p, ":e lib.double", "Added");
    let args = std::fs::read_to_string(&log).unwrap();
    assert_eq!(args.trim(), format!("+5 {}", f.path("pkgs.nix")));
    quit(p);
}

#[test]
fn tab_completion() {
    let f = Fixture::new();
    let mut p = f.spawn_loaded();
    // A name in scope.
    p.send("gree").unwrap();
    p.send(ControlCode::HorizontalTabulation).unwrap();
    p.expect("greeting").unwrap();
    ask(&mut p, "", "\"hi\"");
    // An attribute path.
    p.send("builtins.toS").unwrap();
    p.send(ControlCode::HorizontalTabulation).unwrap();
    p.expect("toString").unwrap();
    ask(&mut p, " 12", "\"12\"");
    p.send("hello.na").unwrap();
    p.send(ControlCode::HorizontalTabulation).unwrap();
    p.expect("name").unwrap();
    ask(&mut p, "", "\"hello-2.12.1\"");
    // A command.
    p.send(":do").unwrap();
    p.send(ControlCode::HorizontalTabulation).unwrap();
    p.expect(":doc").unwrap();
    ask(&mut p, " builtins.head", "Synopsis: builtins.head list");
    // A file name after `:l`.
    p.send(":l ./mo").unwrap();
    p.send(ControlCode::HorizontalTabulation).unwrap();
    p.expect("more.nix").unwrap();
    ask(&mut p, "", "Added 1 variables.");
    ask(&mut p, "more", "42");
    quit(p);
}

#[test]
fn ctrl_c_interrupts_and_the_session_carries_on() {
    let f = Fixture::new();
    let mut p = f.spawn_loaded();
    ask(&mut p, "kept = 99", "");
    // An endless evaluation that does not deepen the stack.
    p.send_line(
        "builtins.length (builtins.genericClosure { startSet = [ { key = 0; } ]; \
         operator = x: [ { key = x.key + 1; } ]; })",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    p.send(ControlCode::EndOfText).unwrap();
    p.expect("error: interrupted by the user").unwrap();
    p.expect(PROMPT).unwrap();
    ask(&mut p, "kept + 1", "100");
    // Endless recursion: stopped by the stack limit, or by Ctrl-C if that takes longer
    // than 300 ms. (A Ctrl-C sent after the error would land at the next prompt, racing
    // with the next line.)
    p.send_line("let f = x: f x; in f 1").unwrap();
    p.set_expect_timeout(Some(Duration::from_millis(300)));
    let overflowed = p.expect("error: ").is_ok();
    p.set_expect_timeout(Some(Duration::from_secs(30)));
    if !overflowed {
        p.send(ControlCode::EndOfText).unwrap();
        p.expect("error: ").unwrap();
    }
    p.expect(PROMPT).unwrap();
    ask(&mut p, "kept", "99");
    // Ctrl-C at the prompt drops the line; Ctrl-D leaves.
    p.send("1 + ").unwrap();
    p.send(ControlCode::EndOfText).unwrap();
    p.expect(PROMPT).unwrap();
    ask(&mut p, "kept - 9", "90");
    p.send(ControlCode::EndOfTransmission).unwrap();
    p.expect(Eof).unwrap();
}

#[test]
fn errors_leave_the_session_usable() {
    let f = Fixture::new();
    let mut p = f.spawn_loaded();
    ask(
        &mut p,
        "1 + \"x\"",
        "error: cannot add a string to an integer",
    );
    ask(&mut p, "throw \"boom\"", "error: boom");
    ask(
        &mut p,
        "{ a = throw \"inner\"; }",
        "{ a = «error: inner»; }",
    );
    ask(
        &mut p,
        "undefinedName",
        "error: undefined variable 'undefinedName'",
    );
    ask(&mut p, "1 )", "error: syntax error, unexpected ')'");
    ask(&mut p, ":l ./missing.nix", "error: getting status of");
    ask(&mut p, "2 * 21", "42");
    quit(p);
}

#[test]
fn history_survives_a_restart() {
    let f = Fixture::new();
    let mut p = f.spawn(&[], false);
    ask(&mut p, "1000 + 337", "1337");
    quit(p);
    let hist = f.dir.path().join("home/.local/share/nix/repl-history");
    assert!(Path::new(&hist).exists(), "no history file");
    let mut p = f.spawn(&[], false);
    let text = std::fs::read_to_string(&hist).unwrap();
    assert!(text.contains("1000 + 337"), "history file: {text:?}");
    // Up arrow brings the lines back: `:q`, then the sum.
    p.send("\x1b[A").unwrap();
    p.expect(":q").unwrap();
    p.send("\x1b[A").unwrap();
    p.expect("1000 + 337").unwrap();
    ask(&mut p, "", "1337");
    quit(p);
}

#[test]
fn colours_on_a_terminal() {
    let f = Fixture::new();
    let mut p = f.spawn(&[], true);
    ask(&mut p, "41 + 1", "\x1b[36;1m42\x1b[0m");
    ask(&mut p, "\"s\"", "\x1b[35;1m\"s\"\x1b[0m");
    quit(p);
}

/// The C example plugin, built with the system C compiler.
fn build_semver(dir: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let so = dir.join("libsemver.so");
    let o = Command::new("cc")
        .args(["-std=c99", "-shared", "-fPIC", "-O2", "-I"])
        .arg(root.join("plugins/include"))
        .arg(root.join("plugins/examples/c/semver.c"))
        .arg("-o")
        .arg(&so)
        .output()
        .expect("run cc (install a C compiler: apt-get install build-essential)");
    assert!(
        o.status.success(),
        "cc failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    so.to_string_lossy().into_owned()
}

#[test]
fn plugin_files_load_into_the_repl() {
    let f = Fixture::new();
    let so = build_semver(f.dir.path());
    let mut p = f.spawn(&["--option", "plugin-files", &so], false);
    ask(
        &mut p,
        "builtins.semverCompare \"1.2.0\" \"1.10.0\"",
        "-1\r\n",
    );
    // Also as a `__` global, and with the plugin's documentation for :doc.
    ask(
        &mut p,
        "__semverMax [ \"1.0.0\" \"2.0.0-rc.1\" \"1.9.9\" ]",
        "\"2.0.0-rc.1\"",
    );
    ask(
        &mut p,
        ":doc builtins.semverCompare",
        "Compare two versions",
    );
    quit(p);

    // A plugin that cannot be loaded stops the REPL with Nix's message.
    let missing = f.path("missing.so");
    let mut cmd = Command::new(BIN);
    cmd.args(["repl", "--option", "plugin-files", &missing])
        .args(f.store_args())
        .env("HOME", f.dir.path().join("home"))
        .env("NIX_CONF_DIR", f.dir.path().join("home"))
        .env("NIX_STATE_DIR", f.dir.path().join("state"))
        .env("NIX_USER_CONF_FILES", f.dir.path().join("home/none.conf"));
    let o = cmd.output().expect("run ferrix repl");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("error: opening directory '{missing}'")),
        "{err}"
    );
}

/// Running out of memory ends the line with Nix's `error: out of memory`, and the session
/// goes on: the arena's failure unwinds to the REPL's loop (see `ferrix_eval::memory`),
/// which starts afresh with a new arena and the files loaded again.
#[test]
fn out_of_memory_keeps_the_session() {
    let f = Fixture::new();
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg("ulimit -v 1000000 && exec \"$0\" repl \"$@\"")
        .arg(BIN)
        .args(f.store_args())
        .current_dir(f.dir.path())
        .env("HOME", f.dir.path().join("home"))
        .env("NIX_CONF_DIR", f.dir.path().join("home"))
        .env("NIX_USER_CONF_FILES", f.dir.path().join("home/none.conf"))
        .env_remove("NIX_PATH")
        .env("NO_COLOR", "1")
        .env("RUST_BACKTRACE", "1")
        .env("TERM", "xterm");
    let mut p = Session::spawn(cmd).expect("spawn ferrix repl under bash");
    p.set_expect_timeout(Some(Duration::from_secs(60)));
    p.expect(PROMPT).expect("first prompt");
    ask(
        &mut p,
        "builtins.length (builtins.genList (x: x) 100000000)",
        "error: out of memory",
    );
    ask(&mut p, "1 + 2", "3\r\n");
    ask(
        &mut p,
        "let l = builtins.genList (x: { a = x; b = [ x x ]; }) 30000000; in builtins.deepSeq l (builtins.length l)",
        "error: out of memory",
    );
    ask(
        &mut p,
        "builtins.length (builtins.genList (x: x) 1000)",
        "1000\r\n",
    );
    quit(p);
}

/// `builtins.currentSystem` is the `system` setting, as the builder builds for it.
#[test]
fn current_system_is_the_system_setting() {
    let f = Fixture::new();
    let mut p = f.spawn(&["--option", "system", "riscv64-ferrix"], false);
    ask(&mut p, "builtins.currentSystem", "\"riscv64-ferrix\"");
    quit(p);
}

/// A long session stays bounded: between two lines, once the arena has grown enough, the
/// REPL collects it (see `ferrix_eval::gc`), keeping what its variables and `--arg`s
/// reach. The same lines, with and without collections, print the same, and the collected
/// session's peak memory is a fraction of the other's.
#[test]
fn a_long_session_stays_bounded() {
    use std::io::{Read, Write};
    use std::process::Stdio;
    let f = Fixture::new();
    let mut input = String::from(
        ":l pkgs.nix\n\
         x = builtins.genList (i: { a = i; b = toString i; }) 100000\n\
         y = { inherit x; f = n: n + 1; s = \"kept\"; }\n\
         (builtins.elemAt x 7).b\n",
    );
    for i in 0..40 {
        input.push_str("builtins.length (builtins.genList (i: [ i i ]) 400000)\n");
        if i % 10 == 9 {
            input.push_str("(builtins.elemAt y.x (99990 + 9)).b + y.s\n");
        }
    }
    input.push_str("extra + y.f 41\n");
    // The output, the collections reported, and the peak resident memory in KiB.
    let run = |collect_at_mib: &str| -> (String, usize, i64) {
        // Reaped by `wait4` below, which also reports its peak memory.
        #[allow(clippy::zombie_processes)]
        let mut child = Command::new(BIN)
            .args(["repl", "--arg", "extra", "1000"])
            .args(f.store_args())
            .current_dir(f.dir.path())
            .env("HOME", f.dir.path().join("home"))
            .env("NIX_CONF_DIR", f.dir.path().join("home"))
            .env("NIX_USER_CONF_FILES", f.dir.path().join("home/none.conf"))
            .env("FERRIX_COLLECT_AT_MIB", collect_at_mib)
            .env("FERRIX_SHOW_STATS", "1")
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ferrix repl");
        let pid = child.id() as libc::pid_t;
        let mut stdin = child.stdin.take().expect("stdin");
        let mut stderr = child.stderr.take().expect("stderr");
        let errors = std::thread::spawn(move || {
            let mut e = String::new();
            stderr.read_to_string(&mut e).expect("read stderr");
            e
        });
        stdin.write_all(input.as_bytes()).expect("write the lines");
        drop(stdin);
        let mut out = String::new();
        child
            .stdout
            .take()
            .expect("stdout")
            .read_to_string(&mut out)
            .expect("read stdout");
        let err = errors.join().expect("stderr reader");
        let mut status = 0;
        // SAFETY: `rusage` is plain data that `wait4` fills; `pid` is this test's child,
        // not yet reaped (`child` is never waited on).
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        assert_eq!(r, pid, "wait4");
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "{err}"
        );
        let collections = err.lines().filter(|l| l.starts_with("collected: ")).count();
        (out, collections, usage.ru_maxrss)
    };
    let (kept_out, kept_collections, kept_rss) = run("100000");
    let (out, collections, rss) = run("16");
    assert_eq!(kept_collections, 0);
    assert!(collections >= 5, "{collections} collections");
    assert_eq!(out, kept_out);
    assert_eq!(out.matches("400000\n").count(), 40, "{out}");
    assert_eq!(out.matches("\"99999kept\"\n").count(), 4, "{out}");
    assert!(out.contains("\"7\"\n") && out.contains("1042\n"), "{out}");
    assert!(
        rss * 2 < kept_rss,
        "peak {rss} KiB with collections, {kept_rss} KiB without"
    );
}
