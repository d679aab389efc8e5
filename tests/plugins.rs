//! Native plugins end to end: the example plugins (C, built here with the system `cc`, and
//! Rust, built here with cargo) through `importNative`, `plugin-files` (command line and
//! `nix.conf`) and `exec`; every failure case with its message; ABI versioning; and
//! `exec`'s behaviour as in Nix 2.8.

use ferrix_primops::WithBuiltins;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

// As in the ferrix binary, so that the in-process benchmark measures what users run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BIN: &str = env!("CARGO_BIN_EXE_ferrix");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const UNSAFE: [&str; 3] = [
    "--option",
    "allow-unsafe-native-code-during-evaluation",
    "true",
];

fn build_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugins");
    std::fs::create_dir_all(&d).expect("plugin build directory");
    d
}

/// Compiles a C plugin with the system C compiler.
fn cc(src: &str, out: &str, flags: &[&str]) -> PathBuf {
    let path = build_dir().join(out);
    let o = Command::new("cc")
        .args([
            "-std=c99", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-O2",
        ])
        .arg("-I")
        .arg(Path::new(ROOT).join("plugins/include"))
        .args(flags)
        .arg(Path::new(ROOT).join(src))
        .arg("-o")
        .arg(&path)
        .output()
        .expect("run cc (install a C compiler: apt-get install build-essential)");
    assert!(
        o.status.success(),
        "cc failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    path
}

fn semver() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| cc("plugins/examples/c/semver.c", "libsemver.so", &[]))
}

fn misbehave_c() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| cc("plugins/testdata/misbehave.c", "libmisbehave.so", &[]))
}

/// The Rust plugins, built once with cargo into a target directory of their own.
fn rust_plugins() -> &'static (PathBuf, PathBuf) {
    static P: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    P.get_or_init(|| {
        let target = build_dir().join("cargo");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let o = Command::new(cargo)
            .current_dir(ROOT)
            .args([
                "build",
                "--offline",
                "-p",
                "ferrix-plugin-textutil",
                "-p",
                "ferrix-plugin-misbehave",
                "--target-dir",
            ])
            .arg(&target)
            .env_remove("CARGO_TARGET_DIR")
            .output()
            .expect("run cargo");
        assert!(
            o.status.success(),
            "cargo build of the Rust plugins failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        (
            target.join("debug/libferrix_plugin_textutil.so"),
            target.join("debug/libferrix_plugin_misbehave.so"),
        )
    })
}

/// The Rust test plugin built optimised, for the benchmark.
fn misbehave_rs_release() -> PathBuf {
    let target = build_dir().join("cargo");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let o = Command::new(cargo)
        .current_dir(ROOT)
        .args([
            "build",
            "--offline",
            "--release",
            "-p",
            "ferrix-plugin-misbehave",
            "--target-dir",
        ])
        .arg(&target)
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .expect("run cargo");
    assert!(
        o.status.success(),
        "cargo build of the Rust test plugin failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    target.join("release/libferrix_plugin_misbehave.so")
}

fn textutil() -> &'static Path {
    &rust_plugins().0
}

fn misbehave_rs() -> &'static Path {
    &rust_plugins().1
}

/// Runs ferrix with an empty configuration (no system or user nix.conf).
fn ferrix_in(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let empty = build_dir().join("empty-conf");
    std::fs::create_dir_all(&empty).unwrap();
    let mut c = Command::new(BIN);
    c.current_dir(dir)
        .args(args)
        .env("NIX_CONF_DIR", &empty)
        .env("NIX_USER_CONF_FILES", empty.join("none.conf"))
        // Builds lock their build user here, not in the machine's /nix/var/nix.
        .env("NIX_STATE_DIR", build_dir().join("state"))
        // Evaluation only: never the machine's store.
        .env("NIX_REMOTE", "dummy://")
        .env_remove("NIX_CONFIG")
        .env_remove("RUST_BACKTRACE");
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().expect("run ferrix")
}

fn ferrix(args: &[&str]) -> Output {
    ferrix_in(Path::new("/"), args, &[])
}

/// `--eval --strict -E expr` with extra leading arguments.
fn eval_with(pre: &[&str], expr: &str) -> Output {
    let mut a: Vec<&str> = vec!["instantiate"];
    a.extend_from_slice(pre);
    a.extend_from_slice(&["--eval", "--strict", "-E", expr]);
    ferrix(&a)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "ferrix failed ({:?}): {}",
        o.status,
        stderr(o)
    );
    stdout(o)
}

/// The evaluation failed cleanly (status 1, not a crash) with `needle` in its message.
#[track_caller]
fn fails_with(o: &Output, needle: &str) -> String {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "status {:?}; stderr: {err}",
        o.status
    );
    assert!(err.starts_with("error: "), "stderr: {err}");
    assert!(err.contains(needle), "expected {needle:?} in stderr: {err}");
    assert!(!err.contains("thread '"), "a panic leaked: {err}");
    err
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn plugin_files(paths: &[&Path]) -> String {
    paths.iter().map(|x| p(x)).collect::<Vec<_>>().join(" ")
}

// ---- the three ways in ----

#[test]
fn import_native_c_example() {
    let expr = format!(
        r#"let s = builtins.importNative {} "initialize"; in [
          (s.compare "1.0.0-alpha" "1.0.0") (s.compare "1.0.0-alpha.1" "1.0.0-alpha.beta")
          (s.compare "1.10.0" "1.9.0") (s.compare "2.0.0+b1" "2.0.0+b2")
          (s.parse "1.2.3-rc.1+build.5") (s.max [ "1.2.0" "1.10.0" "1.9.9" ])
          (s.satisfies "^1.2" "1.9.0") (s.satisfies "^1.2" "2.0.0") (s.satisfies "~1.2.3" "1.2.9")
          (s.satisfies ">=1.0.0 <2.0.0" "1.5.0") (s.satisfies "^0.2.3" "0.3.0")
        ]"#,
        p(semver())
    );
    assert_eq!(
        ok(&eval_with(&UNSAFE, &expr)),
        "[ -1 -1 1 0 { build = \"build.5\"; major = 1; minor = 2; patch = 3; pre = [ \"rc\" 1 ]; } \
         \"1.10.0\" true false true true false ]\n"
    );
}

#[test]
fn import_native_rust_example() {
    let expr = format!(
        r#"let t = builtins.importNative {} "initialize"; i = t.fileInfo {}; in [
          (t.levenshtein "kitten" "sitting") (t.wordCounts "The cat saw the other cat")
          i.type (i.size > 0) (t.findIndex (x: x * x > 10) [ 1 2 3 4 5 ]) (t.findIndex (x: false) [ 1 ])
        ]"#,
        p(textutil()),
        p(&Path::new(ROOT).join("Cargo.toml"))
    );
    assert_eq!(
        ok(&eval_with(&UNSAFE, &expr)),
        "[ 3 { cat = 2; other = 1; saw = 1; the = 2; } \"regular\" true 3 null ]\n"
    );
}

#[test]
fn plugin_files_on_the_command_line() {
    let files = plugin_files(&[semver(), textutil()]);
    let o = eval_with(
        &["--option", "plugin-files", &files],
        r#"[ (builtins.semverCompare "1.0.0" "1.0.1") (__levenshtein "abc" "abd")
             (builtins ? importNative) (builtins.typeOf builtins.semverParse) ]"#,
    );
    assert_eq!(ok(&o), "[ -1 1 false \"lambda\" ]\n");
    // `--extra-plugin-files` appends.
    let o = eval_with(
        &[
            "--plugin-files",
            p(semver()),
            "--extra-plugin-files",
            p(textutil()),
        ],
        r#"builtins.semverMax [ "0.1.0" (builtins.toString (builtins.levenshtein "a" "b")) ]"#,
    );
    fails_with(&o, "invalid version '1': expected MAJOR.MINOR.PATCH");
}

#[test]
fn plugin_files_in_nix_conf() {
    let conf = tempfile::tempdir().unwrap();
    std::fs::write(
        conf.path().join("nix.conf"),
        format!(
            "# plugins\nplugin-files = {}\nextra-plugin-files = {}\n\
             allow-unsafe-native-code-during-evaluation = true\n",
            p(semver()),
            p(textutil())
        ),
    )
    .unwrap();
    let o = ferrix_in(
        Path::new("/"),
        &[
            "instantiate",
            "--eval",
            "--strict",
            "-E",
            r#"[ (builtins.semverSatisfies "^2" "2.5.1") (builtins.levenshtein "" "xy") (builtins ? exec) ]"#,
        ],
        &[("NIX_CONF_DIR", p(conf.path()))],
    );
    assert_eq!(ok(&o), "[ true 2 true ]\n");
}

#[test]
fn plugin_files_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(semver(), dir.path().join("libsemver.so")).unwrap();
    std::fs::copy(textutil(), dir.path().join("libtextutil.so")).unwrap();
    let o = eval_with(
        &["--option", "plugin-files", p(dir.path())],
        r#"builtins.semverCompare "1.0.0" (builtins.toString (builtins.levenshtein "a" "a") + ".0.0")"#,
    );
    assert_eq!(ok(&o), "1\n");
}

#[test]
fn exec_reaches_plugins() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("gen.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho 'let t = builtins.importNative {} \"initialize\"; in'\n\
             echo \"{{ d = t.levenshtein \\\"$1\\\" \\\"$2\\\"; c = builtins.semverCompare \\\"$1\\\" \\\"$2\\\"; }}\"\n",
            p(textutil())
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut pre: Vec<&str> = UNSAFE.to_vec();
    pre.extend_from_slice(&["--option", "plugin-files", p(semver())]);
    let expr = format!(r#"builtins.exec [ "{}" "1.2.3" "1.20.3" ]"#, p(&script));
    assert_eq!(ok(&eval_with(&pre, &expr)), "{ c = -1; d = 1; }\n");
}

// ---- exec as in Nix 2.8 ----

#[test]
fn exec_as_in_nix() {
    let o = eval_with(&UNSAFE, r#"builtins.exec [ "echo" "{ a = 1 + 2; }" ]"#);
    assert_eq!(ok(&o), "{ a = 3; }\n");
    let o = eval_with(&UNSAFE, "builtins.exec [ ]");
    fails_with(&o, "error: at least one argument to 'exec' required\n");
    let o = eval_with(&UNSAFE, r#"builtins.exec "echo""#);
    fails_with(&o, "value is a string while a list was expected");
    let o = eval_with(&UNSAFE, r#"builtins.exec [ "echo" 1 ]"#);
    fails_with(&o, "cannot coerce an integer to a string");
    let o = eval_with(&UNSAFE, r#"builtins.exec [ "sh" "-c" "exit 3" ]"#);
    assert_eq!(stderr(&o), "error: program 'sh' failed with exit code 3\n");
    let o = eval_with(&UNSAFE, r#"builtins.exec [ "sh" "-c" "kill -9 $$" ]"#);
    assert_eq!(
        stderr(&o),
        "error: program 'sh' failed due to signal 9 (Killed)\n"
    );
    let o = eval_with(&UNSAFE, r#"builtins.exec [ "no-such-program-here" ]"#);
    assert_eq!(
        stderr(&o),
        "error: executing 'no-such-program-here': No such file or directory\n\
         error: program 'no-such-program-here' failed with exit code 1\n"
    );
    let o = eval_with(
        &UNSAFE,
        r#"builtins.tryEval (builtins.exec [ "echo" "throw \"x\"" ])"#,
    );
    assert_eq!(ok(&o), "{ success = false; value = false; }\n");
    let mut pre: Vec<&str> = UNSAFE.to_vec();
    pre.push("--show-trace");
    let o = eval_with(&pre, r#"builtins.exec [ "echo" "1 +" ]"#);
    assert_eq!(
        stderr(&o),
        concat!(
            "error: syntax error, unexpected end of file\n\n",
            "       at «string»:1:4:\n\n",
            "            1| 1 +\n",
            "             |    ^\n",
            "            2|\n\n",
            "       … While parsing the output from 'echo'\n\n",
            "       at «string»:1:1:\n\n",
            "            1| builtins.exec [ \"echo\" \"1 +\" ]\n",
            "             | ^\n",
        )
    );
    let o = eval_with(&pre, r#"builtins.exec [ "echo" "throw \"x\"" ]"#);
    assert_eq!(
        stderr(&o),
        "error: x\n\n       … While evaluating the output from 'echo'\n\n       at «string»:1:1:\
         \n\n            1| builtins.exec [ \"echo\" \"throw \\\"x\\\"\" ]\n             | ^\n"
    );
}

#[test]
fn unsafe_builtins_absent_by_default() {
    let o = eval_with(&[], "builtins ? exec || builtins ? importNative");
    assert_eq!(ok(&o), "false\n");
    let o = eval_with(&[], r#"builtins.exec [ "echo" "1" ]"#);
    let err = fails_with(&o, "error: attribute 'exec' missing");
    assert!(
        err.contains("allow-unsafe-native-code-during-evaluation"),
        "{err}"
    );
    let o = eval_with(&[], r#"builtins.importNative ./x.so "f""#);
    let err = fails_with(&o, "error: attribute 'importNative' missing");
    assert!(
        err.contains("allow-unsafe-native-code-during-evaluation"),
        "{err}"
    );
    let o = eval_with(&[], r#"__exec [ "echo" "1" ]"#);
    let err = fails_with(&o, "undefined variable '__exec'");
    assert!(
        err.contains("allow-unsafe-native-code-during-evaluation"),
        "{err}"
    );
    // With the setting, the `__` globals exist as in Nix.
    let o = eval_with(&UNSAFE, r#"__exec [ "echo" "7" ]"#);
    assert_eq!(ok(&o), "7\n");
}

// ---- failures: errors, never crashes ----

#[test]
fn loading_failures() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.so");
    let text = dir.path().join("text.so");
    std::fs::write(&text, "not a shared object\n").unwrap();
    let no_entry = cc(
        "plugins/testdata/misbehave.c",
        "libnoentry.so",
        &["-DNO_ENTRY"],
    );
    let bad_arity = cc(
        "plugins/testdata/misbehave.c",
        "libbadarity.so",
        &["-DBAD_ARITY"],
    );

    let import = |path: &Path, sym: &str| {
        eval_with(
            &UNSAFE,
            &format!(r#"builtins.importNative {} "{sym}""#, p(path)),
        )
    };
    fails_with(
        &import(&missing, "initialize"),
        &format!(
            "error: could not open '{0}': {0}: cannot open shared object file: No such file or directory",
            p(&missing)
        ),
    );
    fails_with(
        &import(&text, "initialize"),
        &format!("error: could not open '{}': ", p(&text)),
    );
    fails_with(
        &import(semver(), "no_such_symbol"),
        &format!(
            "error: could not load symbol 'no_such_symbol' from '{0}': {0}: undefined symbol: no_such_symbol",
            p(semver())
        ),
    );
    fails_with(
        &import(&no_entry, "init_add"),
        &format!(
            "error: '{0}' is not a Ferrix plugin: it does not export 'ferrix_plugin_entry'",
            p(&no_entry)
        ),
    );
    fails_with(
        &import(&bad_arity, "init_add"),
        &format!(
            "error: plugin '{}' is invalid: primop 'cNoArgs' has arity 0, but it must be between 1 and 16",
            p(&bad_arity)
        ),
    );

    // The same through plugin-files: Nix's messages, exit status 1.
    let pf = |path: &Path| eval_with(&["--option", "plugin-files", p(path)], "1");
    fails_with(
        &pf(&missing),
        &format!(
            "error: opening directory '{}': No such file or directory",
            p(&missing)
        ),
    );
    fails_with(
        &pf(&text),
        &format!(
            "error: could not dynamically open plugin file '{}': ",
            p(&text)
        ),
    );
    fails_with(
        &pf(&no_entry),
        &format!("error: '{}' is not a Ferrix plugin", p(&no_entry)),
    );
}

#[test]
fn plugin_errors_and_panics() {
    let files = plugin_files(&[misbehave_c(), misbehave_rs()]);
    let pre = ["--option", "plugin-files", files.as_str()];
    let rs = p(misbehave_rs());
    let c = p(misbehave_c());

    let err = fails_with(
        &eval_with(&pre, r#"builtins.rsPanics "on purpose""#),
        &format!("error: primop 'rsPanics' of plugin '{rs}': the plugin panicked at "),
    );
    assert!(err.contains("deliberate panic: on purpose"), "{err}");
    assert!(err.contains("at «string»:1:1:"), "{err}");
    fails_with(
        &eval_with(&pre, r#"builtins.rsFails "on purpose""#),
        &format!("error: primop 'rsFails' of plugin '{rs}': deliberate failure: on purpose"),
    );
    fails_with(
        &eval_with(&pre, r#"builtins.cError "disk on fire""#),
        &format!("error: primop 'cError' of plugin '{c}': disk on fire"),
    );
    fails_with(
        &eval_with(&pre, "builtins.cReturnsNone 0"),
        &format!(
            "error: primop 'cReturnsNone' of plugin '{c}': returned no value and raised no error"
        ),
    );
    // A failing plugin leaves the evaluator usable: later calls work.
    let o = eval_with(
        &pre,
        r#"[ (builtins.tryEval (builtins.rsDouble (throw "inner"))).success (builtins.rsDouble 21) ]"#,
    );
    assert_eq!(ok(&o), "[ false 42 ]\n");
    // Type errors of arguments read as Nix's own.
    fails_with(
        &eval_with(&pre, r#"builtins.cAdd 1 "2""#),
        "error: value is a string while an integer was expected",
    );
    // An init function that raises an error.
    let o = eval_with(
        &UNSAFE,
        &format!(r#"builtins.importNative {c} "init_fails""#),
    );
    fails_with(
        &o,
        &format!("error: initialisation function 'init_fails' of plugin '{c}': cannot initialise: no configuration"),
    );
}

#[test]
fn stale_and_foreign_handles() {
    let pre = ["--option", "plugin-files", p(misbehave_c())];
    let c = p(misbehave_c());
    fails_with(
        &eval_with(&pre, "[ (builtins.cStash 5) (builtins.cUseStale 0) ]"),
        &format!("error: primop 'cUseStale' of plugin '{c}': invalid value handle 0x1"),
    );
    let err = fails_with(
        &eval_with(&pre, "builtins.cForeign 0"),
        &format!("error: primop 'cForeign' of plugin '{c}': invalid value handle 0x7777000000001234 passed to 'get_int'"),
    );
    assert!(
        err.contains("stale (from a call that has returned) or foreign"),
        "{err}"
    );
    fails_with(
        &eval_with(&pre, "builtins.seq (builtins.cStash 1) (builtins.cStaleCtx 0)"),
        &format!("error: primop 'cStaleCtx' of plugin '{c}': a context that is not the current call's was passed to the plugin API"),
    );
    fails_with(
        &eval_with(&pre, "builtins.cReturnsForeign 0"),
        &format!("error: primop 'cReturnsForeign' of plugin '{c}': returned an invalid value handle 0x1234"),
    );
}

// ---- versioning ----

#[test]
fn abi_versions() {
    // Built against ABI 1.0 (the header without 1.1's functions): loads into ABI 1.2.
    let v10 = cc(
        "plugins/examples/c/semver.c",
        "libsemver-abi-1.0.so",
        &["-DFERRIX_PLUGIN_ABI_MINOR=0"],
    );
    let plugin = ferrix_plugins::load(&v10).expect("an ABI 1.0 plugin loads");
    assert_eq!((plugin.abi_major, plugin.abi_minor), (1, 0));
    let o = eval_with(
        &["--option", "plugin-files", p(&v10)],
        r#"builtins.semverCompare "1.0.0" "1.0.0""#,
    );
    assert_eq!(ok(&o), "0\n");

    let v20 = cc(
        "plugins/testdata/misbehave.c",
        "libmisbehave-abi-2.0.so",
        &["-DDECLARE_MAJOR=2", "-DDECLARE_MINOR=0"],
    );
    let msg = format!(
        "plugin '{}' was built for Ferrix plugin ABI 2.0, but this Ferrix provides ABI 1.2; \
         the major versions must be equal",
        p(&v20)
    );
    fails_with(
        &eval_with(&["--option", "plugin-files", p(&v20)], "1"),
        &format!("error: {msg}\n"),
    );
    fails_with(
        &eval_with(
            &UNSAFE,
            &format!(r#"builtins.importNative {} "init_add""#, p(&v20)),
        ),
        &msg,
    );
    let v13 = cc(
        "plugins/testdata/misbehave.c",
        "libmisbehave-abi-1.3.so",
        &["-DDECLARE_MAJOR=1", "-DDECLARE_MINOR=3"],
    );
    fails_with(
        &eval_with(&["--option", "plugin-files", p(&v13)], "1"),
        "was built for Ferrix plugin ABI 1.3, but this Ferrix provides ABI 1.2; it needs a newer Ferrix",
    );

    // Built against ABI 1.1 (no strict entry points): its ABI 1.0 entry points serve.
    let v11 = cc(
        "plugins/testdata/misbehave.c",
        "libmisbehave-abi-1.1.so",
        &["-DFERRIX_PLUGIN_ABI_MINOR=1"],
    );
    let plugin = ferrix_plugins::load(&v11).expect("an ABI 1.1 plugin loads");
    assert_eq!((plugin.abi_major, plugin.abi_minor), (1, 1));
    let pre = ["--option", "plugin-files", p(&v11)];
    let o = eval_with(&pre, r#"[ (builtins.cAdd 1 2) (builtins.cStrlen "abcd") ]"#);
    assert_eq!(ok(&o), "[ 3 4 ]\n");
    fails_with(
        &eval_with(&pre, "builtins.cHalf 3"),
        "this primop needs a Ferrix with ABI 1.2",
    );
}

// ---- strict entry points (ABI 1.2) ----

#[test]
fn strict_entry_points() {
    let pre = ["--option", "plugin-files", p(misbehave_c())];
    let c = p(misbehave_c());
    let o = eval_with(
        &pre,
        r#"[ (builtins.cAdd 40 2) (builtins.cStrlen "abc") (builtins.cStrlen /tmp)
             (builtins.cHalf 3) (builtins.cHalf 5.0) (builtins.cNot true) (builtins.cNull 1) ]"#,
    );
    assert_eq!(ok(&o), "[ 42 3 4 1.5 2.5 false null ]\n");
    // FERRIX_ARG_ANY passes the type and contents; a lazy argument stays unevaluated.
    let o = eval_with(
        &pre,
        r#"map (x: builtins.head (builtins.cDescribe x (throw "never")))
             [ 7 2.5 true "str" /tmp null [ ] { } (x: x) ]"#,
    );
    assert_eq!(
        ok(&o),
        "[ \"int 7\" \"float 2.5\" \"bool 1\" \"string str\" \"path /tmp\" \"type 0\" \
         \"type 7\" \"type 6\" \"type 8\" ]\n"
    );
    let o = eval_with(&pre, "builtins.elemAt (builtins.cDescribe 1 (6 * 7)) 1");
    assert_eq!(ok(&o), "42\n");
    // Arguments are checked in order with Nix's messages before the plugin runs.
    fails_with(
        &eval_with(&pre, r#"builtins.cAdd "x" (throw "second")"#),
        "error: value is a string while an integer was expected",
    );
    fails_with(
        &eval_with(&pre, r#"builtins.cAdd (throw "first") 1"#),
        "error: first",
    );
    fails_with(
        &eval_with(&pre, r#"builtins.cHalf "x""#),
        "error: value is a string while a float was expected",
    );
    fails_with(
        &eval_with(&pre, "builtins.cNot 1"),
        "error: value is an integer while a Boolean was expected",
    );
    fails_with(
        &eval_with(&pre, "builtins.cStrlen 1"),
        "error: value is an integer while a string was expected",
    );
    // Misbehaving strict entry points are plugin faults naming the file.
    let fault = |op: &str, what: &str| {
        fails_with(
            &eval_with(&pre, &format!("builtins.{op} 1")),
            &format!("error: primop '{op}' of plugin '{c}': {what}"),
        );
    };
    fault("cErrSilent", "returned an error status but raised no error");
    fault("cNoResult", "returned success but set no result");
    fault(
        "cBadType",
        "returned a result of type 4, which a strict entry point cannot return by content",
    );
    fault(
        "cStrictForeign",
        "returned an invalid value handle 0x1234 (stale, foreign or made up)",
    );
    // An invalid argument kind is refused at load time.
    let bad = cc(
        "plugins/testdata/misbehave.c",
        "libbadkind.so",
        &["-DBAD_KIND"],
    );
    fails_with(
        &eval_with(&["--option", "plugin-files", p(&bad)], "1"),
        &format!(
            "error: plugin '{}' is invalid: the strict entry point of primop 'cHalf' takes \
             argument 1 as kind 9, which is not a FERRIX_ARG_* value",
            p(&bad)
        ),
    );
}

#[test]
fn sdk_strict_entry_points() {
    let files = plugin_files(&[textutil(), misbehave_rs()]);
    let pre = ["--option", "plugin-files", files.as_str()];
    let o = eval_with(
        &pre,
        r#"[ (builtins.rsAdd 40 2) (builtins.rsStringLength "héllo") (builtins.rsDouble 4)
             (builtins.levenshtein "kitten" "sitting")
             (builtins.findIndex (x: x > 2) [ 1 2 3 ]) ]"#,
    );
    assert_eq!(ok(&o), "[ 42 6 8 3 2 ]\n");
    fails_with(
        &eval_with(&pre, r#"builtins.rsAdd 1 "2""#),
        "error: value is a string while an integer was expected",
    );
    // In argument order: the first argument's type error, not the second's failure.
    fails_with(
        &eval_with(&pre, r#"builtins.levenshtein 1 (throw "second")"#),
        "error: value is an integer while a string was expected",
    );
    // A lazy `Value` argument stays lazy: the predicate fails only when called.
    fails_with(
        &eval_with(&pre, r#"builtins.findIndex (throw "pred") [ 1 ]"#),
        "error: pred",
    );
    let o = eval_with(&pre, r#"builtins.findIndex (throw "pred") [ ]"#);
    assert_eq!(ok(&o), "null\n");
    fails_with(
        &eval_with(&pre, &format!("builtins.rsAdd {} 1", i64::MAX)),
        "integer overflow in adding 9223372036854775807 and 1",
    );
}

#[test]
fn primop_docs_are_kept() {
    let plugin = ferrix_plugins::load(textutil()).expect("load textutil");
    let lev = plugin
        .primops()
        .iter()
        .find(|op| op.name == "levenshtein")
        .expect("levenshtein");
    assert_eq!(lev.arity, 2);
    assert!(
        lev.doc
            .starts_with("Return the Levenshtein edit distance between strings *a* and *b*,"),
        "{:?}",
        lev.doc
    );
    let plugin = ferrix_plugins::load(semver()).expect("load semver");
    let cmp = plugin
        .primops()
        .iter()
        .find(|op| op.name == "semverCompare")
        .expect("semverCompare");
    assert!(cmp.doc.starts_with("Compare two versions"), "{:?}", cmp.doc);
    assert_eq!(plugin.name, "semver");
}

// ---- cost of a call ----

/// Evaluates `expr` in this process with the given plugins and returns the best time of
/// `runs` evaluations (each in a fresh evaluator and arena) and the printed result.
fn time_in_process(
    plugins: &[&'static ferrix_plugins::Plugin],
    expr: &str,
    runs: usize,
) -> (f64, String) {
    let native = ferrix_plugins::NativeConfig {
        allow_unsafe_native_code: false,
        plugins: plugins.to_vec(),
    };
    let mut best = f64::MAX;
    let mut out = Vec::new();
    for _ in 0..runs {
        let bump = bumpalo::Bump::new();
        let ev = ferrix_eval::Evaluator::builder(&bump)
            .builtins(&ferrix_primops::Config::default())
            .globals(native.global_names())
            .build();
        native.install(&ev).expect("install plugins");
        let code = ev
            .parse(expr.as_bytes(), ferrix_parser::Origin::String, b"/")
            .expect("parse");
        let t = std::time::Instant::now();
        let v = ev.eval_code(code).expect("evaluate");
        best = best.min(t.elapsed().as_secs_f64());
        out.clear();
        ev.print_value(v, &mut out);
    }
    (best, String::from_utf8(out).unwrap())
}

/// One million calls of plugin primops against one million of the builtin doing the same
/// work, each in a `foldl'` loop, evaluated in this process: the C test plugin through its
/// strict entry points (ABI 1.2) and built as an ABI 1.1 plugin (API calls for everything),
/// and the Rust SDK's. The same loop without the call is the baseline, so the per-call
/// figures are the cost of the call and its work. Run with
/// `cargo test --release --test plugins -- --ignored --nocapture bench`
/// (`bench/plugins/run` measures the same through the `ferrix` binary).
#[test]
#[ignore]
fn bench_plugin_vs_builtin() {
    let strict = ferrix_plugins::load(misbehave_c()).expect("load the C test plugin");
    let v11 = cc(
        "plugins/testdata/misbehave.c",
        "libmisbehave-bench-abi-1.1.so",
        &["-DFERRIX_PLUGIN_ABI_MINOR=1"],
    );
    let v11 = ferrix_plugins::load(&v11).expect("load the ABI 1.1 build");
    let rust = ferrix_plugins::load(&misbehave_rs_release()).expect("load the Rust test plugin");
    let n = 1_000_000;
    let loop_ = |body: &str, init: &str| {
        format!("builtins.foldl' (acc: i: {body}) 0 (builtins.genList (i: {init}) {n})")
    };
    let cases = [
        (
            "add",
            loop_("acc", "i"),
            [
                ("builtin", None, loop_("builtins.add acc i", "i")),
                ("C strict", Some(strict), loop_("builtins.cAdd acc i", "i")),
                ("C ABI 1.1", Some(v11), loop_("builtins.cAdd acc i", "i")),
                ("Rust SDK", Some(rust), loop_("builtins.rsAdd acc i", "i")),
            ],
        ),
        (
            "stringLength",
            loop_("acc", "\"abc\""),
            [
                ("builtin", None, loop_("builtins.stringLength i", "\"abc\"")),
                (
                    "C strict",
                    Some(strict),
                    loop_("builtins.cStrlen i", "\"abc\""),
                ),
                (
                    "C ABI 1.1",
                    Some(v11),
                    loop_("builtins.cStrlen i", "\"abc\""),
                ),
                (
                    "Rust SDK",
                    Some(rust),
                    loop_("builtins.rsStringLength i", "\"abc\""),
                ),
            ],
        ),
    ];
    for (name, base, variants) in cases {
        let (t0, _) = time_in_process(&[], &base, 7);
        let per = |t: f64| (t - t0).max(0.0) * 1e9 / n as f64;
        let mut builtin = (0.0, String::new());
        println!("{name}: 1M calls, best of 7; loop alone {:.1} ms", t0 * 1e3);
        for (via, plugin, expr) in variants {
            let plugins: Vec<_> = plugin.into_iter().collect();
            let (t, out) = time_in_process(&plugins, &expr, 7);
            if via == "builtin" {
                builtin = (t, out.clone());
            }
            assert_eq!(out, builtin.1, "{name} via {via}");
            println!(
                "  {via:10} {:6.1} ms ({:5.1} ns/call); /builtin: {:.3} in all, {:.3} per call",
                t * 1e3,
                per(t),
                t / builtin.0,
                per(t) / per(builtin.0)
            );
        }
    }
}
