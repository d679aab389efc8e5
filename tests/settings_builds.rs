//! The configuration reaching the builder, and the build behaviours Nix 2.8's functional
//! tests check (`placeholders`, `multiple-outputs`, `check`, `timeout`, `post-hook`,
//! `structured-attrs`, `fixed`, `case-hack`, `linux-sandbox`), each on a temporary store.
//!
//! Unsandboxed builds use a store laid out as Nix's own tests lay it out: `NIX_STORE_DIR`,
//! `NIX_STATE_DIR` and `NIX_CONF_DIR` under a temporary directory, with the settings in that
//! `nix.conf`. Sandboxed builds use chroot stores and Debian's static busybox as `/bin/sh`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ferrix");

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// A store at `<dir>/store` with its state under `<dir>/var`, configured by
/// `<dir>/etc/nix.conf`.
struct TestStore {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl TestStore {
    fn new(conf: &str) -> TestStore {
        let tmp = tempfile::tempdir().unwrap();
        // Canonical, so that the store directory is not reached through a symlink.
        let dir = tmp.path().canonicalize().unwrap();
        for d in ["store", "var/nix", "var/log/nix", "etc", "home", "build"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        std::fs::write(
            dir.join("etc/nix.conf"),
            // No substituters: nothing here may reach beyond loopback.
            format!("build-users-group =\nsandbox = false\nsubstituters =\n{conf}"),
        )
        .unwrap();
        TestStore { _tmp: tmp, dir }
    }

    fn store_dir(&self) -> String {
        self.dir.join("store").display().to_string()
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("NIX_STORE_DIR", self.dir.join("store"))
            .env("NIX_STATE_DIR", self.dir.join("var/nix"))
            .env("NIX_LOG_DIR", self.dir.join("var/log/nix"))
            .env("NIX_CONF_DIR", self.dir.join("etc"))
            .env("NIX_USER_CONF_FILES", "")
            .env("HOME", self.dir.join("home"))
            .env("TMPDIR", self.dir.join("build"))
            .env_remove("NIX_CONFIG")
            .env_remove("NIX_REMOTE")
            .env_remove("NIX_PATH");
        c
    }

    fn run(&self, args: &[&str]) -> Out {
        let o = self.cmd(args).output().unwrap();
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// `ferrix build -E EXPR` with extra arguments.
    fn build(&self, expr: &str, args: &[&str]) -> Out {
        let mut a = vec!["build", "--no-out-link", "-E", expr];
        a.extend_from_slice(args);
        self.run(&a)
    }
}

/// A derivation whose builder is the host's `/bin/sh -c SCRIPT` (unsandboxed builds only).
fn sh_drv(name: &str, script: &str, extra: &str) -> String {
    format!(
        r#"derivation {{ name = "{name}"; system = builtins.currentSystem; builder = "/bin/sh";
             args = [ "-c" ''{script}'' ]; PATH = "/bin:/usr/bin"; {extra} }}"#
    )
}

fn busybox() -> bool {
    let ok = Path::new("/bin/busybox").exists();
    if !ok {
        eprintln!("skipping: /bin/busybox (busybox-static) is not installed");
    }
    ok
}

#[test]
fn nix_conf_reaches_the_builder() {
    // `sandbox = false` and `build-users-group =` from nix.conf: the build runs outside the
    // sandbox, where the host's /bin/sh and the host's files are visible.
    let s = TestStore::new("");
    let marker = s.dir.join("host-file");
    std::fs::write(&marker, "seen").unwrap();
    let expr = sh_drv("conf", &format!("cat {} > $out", marker.display()), "");
    let r = s.build(&expr, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = r.stdout.trim();
    assert!(out.starts_with(&s.store_dir()), "{out}");
    assert_eq!(std::fs::read_to_string(out).unwrap(), "seen");

    // NIX_CONFIG comes after nix.conf; `include` and `!include` are followed.
    let s = TestStore::new("include extra.conf\n!include missing.conf\n");
    std::fs::write(s.dir.join("etc/extra.conf"), "system-features = foo bar\n").unwrap();
    let expr = sh_drv(
        "features",
        "echo x > $out",
        "requiredSystemFeatures = [ \"baz\" ];",
    );
    let r = s.build(&expr, &[]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr
            .contains("with features {baz} is required to build")
            && r.stderr.contains("with features {bar, foo}"),
        "{}",
        r.stderr
    );
    let r = s
        .cmd(&["build", "--no-out-link", "-E", &expr])
        .env("NIX_CONFIG", "extra-system-features = baz")
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
}

#[test]
fn configuration_errors_and_unknown_settings_are_reported_as_nix_does() {
    let s = TestStore::new("foo-bar = 1\n");
    let r = s.run(&["instantiate", "--eval", "-E", "1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "1\n");
    assert!(
        r.stderr.contains("warning: unknown setting 'foo-bar'"),
        "{}",
        r.stderr
    );
    for (conf, msg) in [
        (
            "keep-going = maybe",
            "Boolean setting 'keep-going' has invalid value 'maybe'",
        ),
        (
            "sandbox = maybe",
            "option 'sandbox' has invalid value 'maybe'",
        ),
        (
            "max-jobs = x",
            "configuration setting 'max-jobs' should be 'auto' or an integer",
        ),
        (
            "bogus line",
            "illegal configuration line 'bogus line' in 'NIX_CONFIG'",
        ),
        (
            "include /nonexistent",
            "file '/nonexistent' included from 'NIX_CONFIG' not found",
        ),
    ] {
        let o = s
            .cmd(&["instantiate", "--eval", "-E", "1"])
            .env("NIX_CONFIG", conf)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{conf}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(&format!("error: {msg}")), "{conf}: {err}");
    }
    // A setting whose feature Ferrix lacks is refused on the command line, not ignored.
    let r = s.run(&["build", "--option", "build-poll-interval", "7", "-E", "1"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("the setting 'build-poll-interval' is not supported by Ferrix yet"),
        "{}",
        r.stderr
    );
}

#[test]
fn placeholders_are_rewritten_in_arguments_environment_and_files() {
    let s = TestStore::new("");
    let expr = r#"derivation {
        name = "placeholders"; system = builtins.currentSystem; builder = "/bin/sh";
        PATH = "/bin:/usr/bin";
        args = [ "-c" "mkdir ${placeholder "out"} && echo $viaEnv > $out/env && cat $viaFilePath > $out/file && echo ${placeholder "dev"} > $dev" ];
        outputs = [ "out" "dev" ];
        viaEnv = "${placeholder "out"}/x";
        viaFile = "${placeholder "dev"}";
        passAsFile = [ "viaFile" ];
      }"#;
    let both = format!("let d = {expr}; in [ d.out d.dev ]");
    let r = s.build(&both, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let outs: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(outs.len(), 2, "{}", r.stdout);
    let (out, dev) = if outs[0].ends_with("-dev") {
        (outs[1], outs[0])
    } else {
        (outs[0], outs[1])
    };
    assert_eq!(
        std::fs::read_to_string(format!("{out}/env")).unwrap(),
        format!("{out}/x\n")
    );
    assert_eq!(std::fs::read_to_string(format!("{out}/file")).unwrap(), dev);
    assert_eq!(std::fs::read_to_string(dev).unwrap(), format!("{dev}\n"));
}

#[test]
fn a_deleted_output_is_rebuilt_beside_the_valid_one_and_cycles_are_refused() {
    let s = TestStore::new("");
    let expr = sh_drv(
        "two",
        "mkdir $first $second && echo $second > $first/ref && echo 2 > $second/x",
        r#"outputs = [ "first" "second" ];"#,
    );
    let expr = format!("let d = {expr}; in [ d.first d.second ]");
    let r = s.build(&expr, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let outs: Vec<String> = r.stdout.lines().map(str::to_owned).collect();
    let first = outs.iter().find(|o| o.ends_with("-first")).unwrap().clone();
    let second = outs
        .iter()
        .find(|o| o.ends_with("-second"))
        .unwrap()
        .clone();
    let before = std::fs::metadata(&second).unwrap();
    let d = s.run(&["store", "--delete", &first]);
    assert_eq!(d.code, 0, "{}", d.stderr);
    assert!(!Path::new(&first).exists());
    // Rebuilding writes the valid output to a scratch path (its hash rewritten back), so
    // the valid one is left alone and the deleted one comes back, referring to it.
    let r = s.build(&expr, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(format!("{first}/ref")).unwrap(),
        format!("{second}\n")
    );
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&second).unwrap().ino(), before.ino());
    let v = s.run(&["store", "--verify", "--check-contents"]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    let leftovers: Vec<_> = std::fs::read_dir(s.dir.join("store"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            !n.starts_with('.')
                && !n.ends_with(".drv")
                && !n.ends_with(".lock")
                && !outs.iter().any(|o| o.ends_with(n.as_str()))
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let cyclic = sh_drv(
        "cyclic",
        "mkdir $a $b && echo $b > $a/ref && echo $a > $b/ref",
        r#"outputs = [ "a" "b" ];"#,
    );
    let r = s.build(&cyclic, &[]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("cycle detected in the references of"),
        "{}",
        r.stderr
    );
}

#[test]
fn check_and_repeat_work_without_the_sandbox() {
    let s = TestStore::new("");
    let det = sh_drv("det", "echo same > $out", "");
    let r = s.build(&det, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = s.build(&det, &["--check"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        !r.stderr.contains("may not be deterministic"),
        "{}",
        r.stderr
    );

    let nondet = sh_drv("nondet", "cat /proc/sys/kernel/random/uuid > $out", "");
    let r = s.build(&nondet, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let path = r.stdout.trim().to_owned();
    let old = std::fs::read_to_string(&path).unwrap();
    let r = s.build(&nondet, &["--check"]);
    assert_eq!(r.code, 104, "{}", r.stderr);
    assert!(
        r.stderr.contains("may not be deterministic"),
        "{}",
        r.stderr
    );
    // The valid output is untouched by the check.
    assert_eq!(std::fs::read_to_string(&path).unwrap(), old);

    let nondet2 = sh_drv("nondet2", "cat /proc/sys/kernel/random/uuid > $out", "");
    let r = s.build(&nondet2, &["--repeat", "1"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("differs from previous round"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("(round 2/2)"), "{}", r.stderr);
    let r = s.build(&det, &["--repeat", "2"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn a_builder_that_closes_its_log_is_killed() {
    let s = TestStore::new("");
    let expr = sh_drv(
        "closelog",
        "touch $out; exec >/dev/null 2>&1; sleep 1000",
        "",
    );
    let t = Instant::now();
    let r = s.build(&expr, &[]);
    assert_ne!(r.code, 0);
    assert!(t.elapsed() < Duration::from_secs(60));
    assert!(r.stderr.contains("failed due to signal 9"), "{}", r.stderr);
}

#[test]
fn post_build_hook_sees_the_outputs() {
    let s = TestStore::new("");
    let hook = s.dir.join("hook.sh");
    let log = s.dir.join("hook.log");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\necho \"$DRV_PATH|$OUT_PATHS\" >> {}\necho from-hook\n",
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let expr = sh_drv("hooked", "echo x > $out", "");
    let r = s.build(&expr, &["--post-build-hook", hook.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("from-hook"), "{}", r.stderr);
    let line = std::fs::read_to_string(&log).unwrap();
    let (drv, outs) = line.trim().split_once('|').unwrap();
    assert!(drv.ends_with("-hooked.drv"), "{line}");
    assert_eq!(outs, r.stdout.trim());
    // Nothing built, no hook.
    let r = s.build(&expr, &["--post-build-hook", hook.to_str().unwrap()]);
    assert_eq!(r.code, 0);
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 1);
}

#[test]
fn attrs_sh_leaves_out_floats_and_attrs_json_exports_references() {
    let s = TestStore::new("");
    let dep = sh_drv("dep", "echo dep > $out", "");
    let expr = format!(
        r#"derivation {{ name = "structured"; system = builtins.currentSystem; builder = "/bin/bash";
          __structuredAttrs = true; PATH = "/bin:/usr/bin";
          int = 123456789; float = 123.456; whole = 2.0; f = false; t = true;
          exportReferencesGraph.refs = [ ({dep}) ];
          args = [ "-c" ". ./.attrs.sh; out=\${{outputs[out]}}; mkdir $out; echo \"$int|$float|$whole|$f|$t\" > $out/sh; cp .attrs.json $out/json" ]; }}"#
    );
    let r = s.build(&expr, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = r.stdout.trim();
    assert_eq!(
        std::fs::read_to_string(format!("{out}/sh")).unwrap(),
        "123456789||2||1\n"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{out}/json")).unwrap()).unwrap();
    let refs = json["refs"].as_array().unwrap();
    assert_eq!(refs.len(), 1);
    assert!(refs[0]["narHash"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(refs[0]["narSize"], refs[0]["closureSize"]);
    assert_eq!(refs[0]["references"], serde_json::json!([]));
    assert_eq!(json["outputs"]["out"], serde_json::json!(out));
}

#[test]
fn a_fixed_output_mismatch_registers_what_was_built() {
    let s = TestStore::new("");
    let good = r#"derivation { name = "fixed"; system = builtins.currentSystem; builder = "/bin/sh";
        args = [ "-c" "printf foo > $out" ]; outputHashAlgo = "sha256"; outputHashMode = "flat";
        outputHash = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"; }"#;
    let bad = good.replace("2c26b46b", "0c26b46b");
    let wanted = s.run(&["instantiate", "--eval", "-E", &format!("({good}).outPath")]);
    let wanted = wanted.stdout.trim().trim_matches('"').to_owned();
    let r = s.build(&bad, &[]);
    assert_eq!(r.code, 102, "{}", r.stderr);
    assert!(r
        .stderr
        .contains("hash mismatch in fixed-output derivation"));
    assert!(Path::new(&wanted).exists(), "{wanted} was not registered");
    let q = s.run(&["store", "--query", "--hash", &wanted]);
    assert_eq!(q.code, 0, "{}", q.stderr);
    // The good derivation now needs no build.
    let r = s.build(good, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("building"), "{}", r.stderr);
}

#[test]
fn nix_hash_honours_use_case_hack() {
    let s = TestStore::new("");
    let d = s.dir.join("case");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("a~nix~case~hack~1"), "x").unwrap();
    let plain = s.run(&["hash", "--type", "sha256", d.to_str().unwrap()]);
    let hacked = s.run(&[
        "hash",
        "--option",
        "use-case-hack",
        "true",
        "--type",
        "sha256",
        d.to_str().unwrap(),
    ]);
    assert_eq!(plain.code, 0, "{}", plain.stderr);
    assert_eq!(hacked.code, 0, "{}", hacked.stderr);
    assert_ne!(plain.stdout, hacked.stdout);
    std::fs::rename(d.join("a~nix~case~hack~1"), d.join("a")).unwrap();
    let renamed = s.run(&["hash", "--type", "sha256", d.to_str().unwrap()]);
    assert_eq!(renamed.stdout, hacked.stdout);
}

/// No build with a chroot store, sandboxed or not, writes outside that store: with
/// `sandbox = false` Ferrix still sandboxes it, as Nix does, so the builder's writes to
/// the logical store path and to a host path both stay inside.
#[test]
fn chroot_store_builds_never_write_outside_the_store() {
    if !busybox() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let tmpdir = tmp.path().canonicalize().unwrap();
    let store = tmpdir.join("chroot");
    let escape = tmpdir.join("escaped");
    for sandbox in ["false", "true", "relaxed"] {
        let expr = format!(
            r#"derivation {{ name = "contained-{sandbox}"; system = builtins.currentSystem;
                builder = "/bin/sh"; args = [ "-c" "echo hi > $out; (echo x > {}) 2>/dev/null; true" ]; }}"#,
            escape.display()
        );
        let o = Command::new(BIN)
            .args([
                "build",
                "--no-out-link",
                "--store",
                store.to_str().unwrap(),
                "--option",
                "sandbox",
                sandbox,
                "--option",
                "sandbox-paths",
                "/bin/sh=/bin/busybox",
                "--option",
                "build-users-group",
                "",
                "--option",
                "substituters",
                "",
                "-E",
                &expr,
            ])
            .env("NIX_CONF_DIR", &tmpdir)
            .env("NIX_USER_CONF_FILES", "")
            .env("HOME", &tmpdir)
            .env_remove("NIX_REMOTE")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let out = stdout.trim();
        // The host path is not there inside the sandbox, so the write goes nowhere.
        assert!(
            !escape.exists(),
            "sandbox={sandbox}: the builder wrote {escape:?}"
        );
        assert!(out.starts_with("/nix/store/"), "{out}");
        let base = out.trim_start_matches("/nix/store/");
        assert!(store.join("nix/store").join(base).exists());
        assert!(
            !Path::new(out).exists(),
            "sandbox={sandbox}: {out} appeared in the host's /nix/store"
        );
    }
}

/// Makes the store file `p` writable and replaces its contents.
fn tamper(p: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(p, "damaged\n").unwrap();
}

#[test]
fn repair_rebuilds_damaged_outputs() {
    let s = TestStore::new("");
    let expr = sh_drv("repairable", "echo good > $out", "");
    let o = s.build(&expr, &[]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let out = o.stdout.trim().to_string();
    assert!(out.starts_with(&s.store_dir()));
    let read = || std::fs::read_to_string(&out).unwrap();

    // `nix-build --repair`.
    tamper(&out);
    let o = s.build(&expr, &["--repair"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(read(), "good\n");

    // `nix-store --repair-path`.
    tamper(&out);
    let o = s.run(&["store", "--repair-path", &out]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(read(), "good\n");

    // `nix-store --verify --check-contents --repair` finds and repairs it; afterwards the
    // store verifies.
    tamper(&out);
    let o = s.run(&["store", "--verify", "--check-contents"]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    let o = s.run(&["store", "--verify", "--check-contents", "--repair"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(read(), "good\n");
    let o = s.run(&["store", "--verify", "--check-contents"]);
    assert_eq!(o.code, 0, "{}", o.stderr);

    // Without --repair a damaged output stays as it is: it is valid.
    tamper(&out);
    let o = s.build(&expr, &[]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(read(), "damaged\n");
}

#[test]
fn realise_follows_links_to_derivations() {
    let s = TestStore::new("");
    let expr = sh_drv("linked", "echo linked > $out", "");
    let file = s.dir.join("linked.nix");
    std::fs::write(&file, &expr).unwrap();
    let link = s.dir.join("indirect");
    let o = s.run(&[
        "instantiate",
        "--add-root",
        link.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    // `nix-store -r LINK!out`: the link is followed to the derivation, as in Nix.
    let o = s.run(&["store", "-r", &format!("{}!out", link.display())]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let out = o.stdout.trim();
    assert!(out.starts_with(&s.store_dir()), "{out}");
    assert_eq!(std::fs::read_to_string(out).unwrap(), "linked\n");
}

#[test]
fn eval_store_keeps_derivations_out_of_the_build_store() {
    let s = TestStore::new("");
    let dep = sh_drv("evaldep", "echo dep > $out", "");
    let top = format!(
        "let dep = {dep}; in {}",
        sh_drv("evaltop", "cat ${dep} > $out; echo top >> $out", "")
    );
    let eval = s.dir.join("eval");
    let link = s.dir.join("result");
    let o = s.run(&[
        "build",
        "--eval-store",
        eval.to_str().unwrap(),
        "-o",
        link.to_str().unwrap(),
        "-E",
        &top,
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        std::fs::read_to_string(&link).unwrap(),
        "dep\ntop\n",
        "the result link points at the built output"
    );
    let drvs = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".drv"))
                    .collect()
            })
            .unwrap_or_default()
    };
    // As in Nix: the derivations stay in the evaluation store.
    assert!(drvs(&s.dir.join("store")).is_empty());
    let in_eval = drvs(&eval.join("nix/store"));
    assert_eq!(in_eval.len(), 2, "{in_eval:?}");
}
