//! The configuration settings that Nix 2.8's command-line parsers turn into flags.
//!
//! Every setting `NAME` becomes `--NAME VALUE`; a boolean setting instead becomes the pair
//! `--NAME` / `--no-NAME`, and a list-valued setting also gets `--extra-NAME VALUE`, which
//! appends. The `sandbox` setting additionally has `--relaxed-sandbox`. The table was taken
//! from the settings Nix 2.8.0 registers (`nix show-config`) and checked against what
//! `nix-instantiate` 2.8.0 accepts.

use clap::{Arg, ArgAction, Command};

/// How a setting is exposed on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `--NAME` and `--no-NAME`.
    Bool,
    /// `--NAME VALUE`.
    Value,
    /// `--NAME VALUE` and `--extra-NAME VALUE`.
    List,
}

/// Every setting of Nix 2.8.0 with its kind, sorted by name.
pub const SETTINGS: &[(&str, Kind)] = &[
    ("accept-flake-config", Kind::Bool),
    ("access-tokens", Kind::List),
    ("allow-dirty", Kind::Bool),
    ("allow-import-from-derivation", Kind::Bool),
    ("allow-new-privileges", Kind::Bool),
    ("allow-symlinked-store", Kind::Bool),
    ("allow-unsafe-native-code-during-evaluation", Kind::Bool),
    ("allowed-impure-host-deps", Kind::List),
    ("allowed-uris", Kind::List),
    ("allowed-users", Kind::List),
    ("auto-optimise-store", Kind::Bool),
    ("bash-prompt", Kind::Value),
    ("bash-prompt-suffix", Kind::Value),
    ("build-hook", Kind::Value),
    ("build-poll-interval", Kind::Value),
    ("build-users-group", Kind::Value),
    ("builders", Kind::Value),
    ("builders-use-substitutes", Kind::Bool),
    ("commit-lockfile-summary", Kind::Value),
    ("compress-build-log", Kind::Bool),
    ("connect-timeout", Kind::Value),
    ("cores", Kind::Value),
    ("diff-hook", Kind::Value),
    ("download-attempts", Kind::Value),
    ("enforce-determinism", Kind::Bool),
    ("eval-cache", Kind::Bool),
    ("experimental-features", Kind::List),
    ("extra-platforms", Kind::List),
    ("fallback", Kind::Bool),
    ("filter-syscalls", Kind::Bool),
    ("flake-registry", Kind::Value),
    ("fsync-metadata", Kind::Bool),
    ("gc-reserved-space", Kind::Value),
    ("hashed-mirrors", Kind::List),
    ("http-connections", Kind::Value),
    ("http2", Kind::Bool),
    ("ignored-acls", Kind::List),
    ("impersonate-linux-26", Kind::Bool),
    ("keep-build-log", Kind::Bool),
    ("keep-derivations", Kind::Bool),
    ("keep-env-derivations", Kind::Bool),
    ("keep-failed", Kind::Bool),
    ("keep-going", Kind::Bool),
    ("keep-outputs", Kind::Bool),
    ("log-lines", Kind::Value),
    ("max-build-log-size", Kind::Value),
    ("max-free", Kind::Value),
    ("max-jobs", Kind::Value),
    ("max-silent-time", Kind::Value),
    ("min-free", Kind::Value),
    ("min-free-check-interval", Kind::Value),
    ("nar-buffer-size", Kind::Value),
    ("narinfo-cache-negative-ttl", Kind::Value),
    ("narinfo-cache-positive-ttl", Kind::Value),
    ("netrc-file", Kind::Value),
    ("nix-path", Kind::List),
    ("plugin-files", Kind::List),
    ("post-build-hook", Kind::Value),
    ("pre-build-hook", Kind::Value),
    ("preallocate-contents", Kind::Bool),
    ("print-missing", Kind::Bool),
    ("pure-eval", Kind::Bool),
    ("repeat", Kind::Value),
    ("require-sigs", Kind::Bool),
    ("restrict-eval", Kind::Bool),
    ("run-diff-hook", Kind::Bool),
    ("sandbox", Kind::Bool),
    ("sandbox-build-dir", Kind::Value),
    ("sandbox-dev-shm-size", Kind::Value),
    ("sandbox-fallback", Kind::Bool),
    ("sandbox-paths", Kind::List),
    ("secret-key-files", Kind::List),
    ("show-trace", Kind::Bool),
    ("stalled-download-timeout", Kind::Value),
    ("store", Kind::Value),
    ("substitute", Kind::Bool),
    ("substituters", Kind::List),
    ("sync-before-registering", Kind::Bool),
    ("system", Kind::Value),
    ("system-features", Kind::List),
    ("tarball-ttl", Kind::Value),
    ("timeout", Kind::Value),
    ("trace-function-calls", Kind::Bool),
    ("trusted-public-keys", Kind::List),
    ("trusted-substituters", Kind::List),
    ("trusted-users", Kind::List),
    ("use-case-hack", Kind::Bool),
    ("use-registries", Kind::Bool),
    ("use-sqlite-wal", Kind::Bool),
    ("user-agent-suffix", Kind::Value),
    ("warn-dirty", Kind::Bool),
];

/// The heading under which setting flags are listed (they are hidden from `--help`, as in Nix).
const HEADING: &str = "Options to override configuration settings";

/// Argument id of a flag that sets setting `name` (to `true` when the flag takes no value).
pub fn set_id(name: &str) -> String {
    format!("set:{name}")
}

/// Argument id of `--no-NAME`.
pub fn unset_id(name: &str) -> String {
    format!("set-no:{name}")
}

/// Argument id of `--extra-NAME`.
pub fn extra_id(name: &str) -> String {
    format!("set-extra:{name}")
}

/// Argument id of `--relaxed-sandbox`.
pub const RELAXED_SANDBOX_ID: &str = "set-relaxed-sandbox";

fn has_long(cmd: &Command, long: &str) -> bool {
    cmd.get_arguments().any(|a| {
        a.get_long() == Some(long)
            || a.get_all_aliases()
                .is_some_and(|aliases| aliases.contains(&long))
    })
}

/// The names clap needs for one setting's flags. clap wants `'static` strings, so they are
/// built once per process.
struct Names {
    set_id: &'static str,
    unset_id: &'static str,
    extra_id: &'static str,
    no_long: &'static str,
    extra_long: &'static str,
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn names() -> &'static [Names] {
    static NAMES: std::sync::OnceLock<Vec<Names>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        SETTINGS
            .iter()
            .map(|&(name, _)| Names {
                set_id: leak(set_id(name)),
                unset_id: leak(unset_id(name)),
                extra_id: leak(extra_id(name)),
                no_long: leak(format!("no-{name}")),
                extra_long: leak(format!("extra-{name}")),
            })
            .collect()
    })
}

fn value_arg(id: &'static str, long: &'static str, help: String) -> Arg {
    Arg::new(id)
        .long(long)
        .num_args(1)
        .value_name("VALUE")
        .action(ArgAction::Append)
        .allow_hyphen_values(true)
        .help(help)
        .help_heading(HEADING)
        .hide(true)
}

fn bool_arg(id: &'static str, long: &'static str, help: String) -> Arg {
    Arg::new(id)
        .long(long)
        .action(ArgAction::SetTrue)
        .help(help)
        .help_heading(HEADING)
        .hide(true)
}

/// Adds one flag per setting (and its `--no-`/`--extra-` companions) to `cmd`, skipping any
/// flag name the command already defines: a command's own flag shadows the generic one.
pub fn add_setting_flags(mut cmd: Command) -> Command {
    for (&(name, kind), n) in SETTINGS.iter().zip(names()) {
        let mut new = Vec::new();
        match kind {
            Kind::Bool => {
                new.push(bool_arg(
                    n.set_id,
                    name,
                    format!("Enable the '{name}' setting."),
                ));
                new.push(bool_arg(
                    n.unset_id,
                    n.no_long,
                    format!("Disable the '{name}' setting."),
                ));
            }
            Kind::Value => new.push(value_arg(
                n.set_id,
                name,
                format!("Set the '{name}' setting."),
            )),
            Kind::List => {
                new.push(value_arg(
                    n.set_id,
                    name,
                    format!("Set the '{name}' setting."),
                ));
                new.push(value_arg(
                    n.extra_id,
                    n.extra_long,
                    format!("Append to the '{name}' setting."),
                ));
            }
        }
        for arg in new {
            let long = arg.get_long().unwrap_or_default();
            let taken =
                has_long(&cmd, long) || cmd.get_arguments().any(|a| a.get_id() == arg.get_id());
            if !taken {
                cmd = cmd.arg(arg);
            }
        }
    }
    if !has_long(&cmd, "relaxed-sandbox") {
        cmd = cmd.arg(bool_arg(
            RELAXED_SANDBOX_ID,
            "relaxed-sandbox",
            "Enable sandboxing, but let derivations opt out of it.".to_owned(),
        ));
    }
    cmd
}
