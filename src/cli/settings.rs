//! The configuration settings as command-line flags, as Nix 2.8's parsers make them.
//!
//! Every setting `NAME` (declared once, in `ferrix_store::settings`) becomes
//! `--NAME VALUE`; a boolean setting instead becomes the pair `--NAME` / `--no-NAME`, and a
//! list-valued setting also gets `--extra-NAME VALUE`, which appends. The `sandbox` setting
//! additionally has `--relaxed-sandbox`.

use clap::{Arg, ArgAction, Command};

pub use ferrix_store::settings::Kind;
use ferrix_store::settings::DEFINITIONS;

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
        DEFINITIONS
            .iter()
            .map(|d| d.name)
            .map(|name| Names {
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
    for (d, n) in DEFINITIONS.iter().zip(names()) {
        let (name, kind) = (d.name, d.kind);
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
