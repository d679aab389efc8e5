//! The command-line parsing every command shares: the programs Ferrix stands in for, the
//! common and evaluation flags, and how a command's own flags are parsed (the commands
//! themselves are in `crate::commands`, the dispatch on `argv[0]` in `crate::dispatch`).
//!
//! Each command accepts the flags its Nix 2.8 counterpart accepts, no more and no fewer.
//! Flags are declared with clap; [`scan`] first walks argv the way Nix's own parser does,
//! so that splitting of `-vvv`, multi-valued flags, error messages and exit statuses match.

pub mod scan;
pub mod settings;

/// Prints `warning: MSG` on standard error.
pub fn warn(msg: &str) {
    err_line!("warning: {msg}");
}

use clap::{Arg, ArgAction, ArgMatches, Command, FromArgMatches};

/// Ferrix's version, shown by `--version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The commands Ferrix provides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Program {
    Instantiate,
    Build,
    Store,
    Daemon,
    Repl,
    Hash,
    CopyClosure,
    CollectGarbage,
    EvalJobs,
}

impl Program {
    /// The name of the Nix program this command stands in for; it is used in messages
    /// (`Try 'nix-store --help' ...`) and by `--version`, as Nix uses its own program name.
    pub fn nix_name(self) -> &'static str {
        match self {
            Program::Instantiate => "nix-instantiate",
            Program::Build => "nix-build",
            Program::Store => "nix-store",
            Program::Daemon => "nix-daemon",
            Program::Repl => "nix",
            Program::Hash => "nix-hash",
            Program::CopyClosure => "nix-copy-closure",
            Program::CollectGarbage => "nix-collect-garbage",
            Program::EvalJobs => "nix-eval-jobs",
        }
    }

    /// The `ferrix` subcommand name.
    pub fn subcommand(self) -> &'static str {
        match self {
            Program::Instantiate => "instantiate",
            Program::Build => "build",
            Program::Store => "store",
            Program::Daemon => "daemon",
            Program::Repl => "repl",
            Program::Hash => "hash",
            Program::CopyClosure => "copy-closure",
            Program::CollectGarbage => "collect-garbage",
            Program::EvalJobs => "eval-jobs",
        }
    }

    pub(crate) fn from_subcommand(name: &str) -> Option<Program> {
        ALL.iter().copied().find(|p| p.subcommand() == name)
    }

    /// The program a link name selects (`nix-store` → `Store`).
    pub fn from_link_name(name: &str) -> Option<Program> {
        ALL.iter()
            .copied()
            .find(|p| *p != Program::Repl && p.nix_name() == name)
    }

    /// One line about the command, for `--help`.
    pub(crate) fn about(self) -> &'static str {
        match self {
            Program::Instantiate => {
                "Evaluate Nix expressions and instantiate derivations (nix-instantiate)"
            }
            Program::Build => "Build the derivations a Nix expression describes (nix-build)",
            Program::Store => "Query and manipulate the Nix store (nix-store)",
            Program::Daemon => "Serve the Nix daemon protocol (nix-daemon)",
            Program::Repl => "Evaluate Nix expressions interactively (nix repl)",
            Program::Hash => "Compute and convert cryptographic hashes (nix-hash)",
            Program::CopyClosure => {
                "Copy closures to or from another machine over SSH (nix-copy-closure)"
            }
            Program::CollectGarbage => {
                "Delete old profile generations and collect garbage (nix-collect-garbage)"
            }
            Program::EvalJobs => {
                "Evaluate the derivations of a package set in worker processes (nix-eval-jobs)"
            }
        }
    }
}

/// Every command, in the order `ferrix --help` lists them.
pub(crate) const ALL: [Program; 9] = [
    Program::Instantiate,
    Program::Build,
    Program::Store,
    Program::Daemon,
    Program::Repl,
    Program::Hash,
    Program::CopyClosure,
    Program::CollectGarbage,
    Program::EvalJobs,
];

/// How a command was reached: through a `nix-*` link or as a `ferrix` subcommand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Invocation {
    pub program: Program,
    /// True when argv[0] named the Nix program (`nix-build ...`).
    pub via_link: bool,
}

impl Invocation {
    /// The command as the user typed it: `nix-build` or `ferrix build`.
    pub fn display_name(&self) -> String {
        if self.via_link {
            self.program.nix_name().to_owned()
        } else {
            format!("ferrix {}", self.program.subcommand())
        }
    }

    /// Prints Nix's usage-error report and returns the exit status 1.
    pub fn usage_error(&self, msg: &str) -> i32 {
        err_line!("error: {msg}");
        err_line!(
            "Try '{} --help' for more information.",
            self.program.nix_name()
        );
        1
    }

    /// Prints that `what` (e.g. `nix-store --gc`) is not implemented yet; returns 1.
    pub fn not_implemented(&self, mode: Option<&str>) -> i32 {
        match mode {
            Some(m) => err_line!(
                "error: '{} {m}' is not implemented yet",
                self.display_name()
            ),
            None => err_line!("error: '{}' is not implemented yet", self.display_name()),
        }
        1
    }

    pub(crate) fn print_version(&self, verbosity: u8) {
        out_line!("{} (Ferrix) {VERSION}", self.program.nix_name());
        if verbosity > VERBOSITY_INFO {
            let store = ferrix_store::path::env_store_dir().unwrap_or_else(|| "/nix/store".into());
            let state = std::env::var("NIX_STATE_DIR").unwrap_or_else(|_| "/nix/var/nix".into());
            out_line!(
                "System type: {}-{}",
                std::env::consts::ARCH,
                std::env::consts::OS
            );
            out_line!("Store directory: {store}");
            out_line!("State directory: {state}");
        }
    }
}

/// Nix's default verbosity (`lvlInfo`).
pub const VERBOSITY_INFO: u8 = 3;
/// Nix's `lvlDebug`, set by `--debug`.
pub const VERBOSITY_DEBUG: u8 = 6;
/// Nix's highest level (`lvlVomit`).
pub const VERBOSITY_MAX: u8 = 7;

/// Flags every command shares: Nix's `MixCommonArgs` (verbosity, `--option`, `--log-format`,
/// `-j`, one flag per setting) and, for the legacy `nix-*` commands, `LegacyArgs` (`-Q`,
/// `-K`, `-k`, `--fallback`, `--cores`, `--max-silent-time`, `--timeout`,
/// `--readonly-mode`, `--no-gc-warning`, `--store`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommonArgs {
    /// The final verbosity after `-v`, `--quiet` and `--debug` in order, on Nix's scale
    /// (0 = error ... 3 = info, the default ... 7 = vomit).
    pub verbosity: u8,
    /// Every configuration change made on the command line, in order: `--option NAME VALUE`,
    /// `--NAME VALUE`, `--NAME` (`"true"`), `--no-NAME` (`"false"`), `--extra-NAME VALUE`
    /// (recorded under the name `extra-NAME`, as in `nix.conf`), `--relaxed-sandbox`
    /// (`sandbox` = `"relaxed"`), and the legacy spellings `-j`, `--cores`, `-k`, `-K`,
    /// `--fallback`, `--max-silent-time`, `--timeout`, `--store`.
    pub settings: Vec<(String, String)>,
    /// Just the `--option NAME VALUE` pairs, in order.
    pub options: Vec<(String, String)>,
    /// `--log-format FORMAT`.
    pub log_format: Option<String>,
    /// `-Q` / `--no-build-output`.
    pub no_build_output: bool,
    /// `--readonly-mode`.
    pub readonly_mode: bool,
    /// `--no-gc-warning`.
    pub no_gc_warning: bool,
    /// Every setting's value: the configuration files, `NIX_CONFIG`, then the command
    /// line. Filled in by [`parse`] once the command line is known to be valid.
    pub config: ferrix_store::settings::Settings,
}

impl CommonArgs {
    /// The last value given on the command line for setting `name`, if any.
    pub fn setting(&self, name: &str) -> Option<&str> {
        self.settings
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The effective value of boolean setting `name` as set on the command line.
    pub fn bool_setting(&self, name: &str) -> Option<bool> {
        match self.setting(name)? {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }

    fn from_seen(seen: &[scan::Seen]) -> Result<CommonArgs, String> {
        let mut c = CommonArgs {
            verbosity: VERBOSITY_INFO,
            ..CommonArgs::default()
        };
        for s in seen {
            let v0 = s.values.first().cloned().unwrap_or_default();
            let id = s.id.as_str();
            match id {
                "verbose" => c.verbosity = (c.verbosity + 1).min(VERBOSITY_MAX),
                "quiet" => c.verbosity = c.verbosity.saturating_sub(1),
                "debug" => c.verbosity = VERBOSITY_DEBUG,
                "log-format" => c.log_format = Some(v0),
                "no-build-output" => c.no_build_output = true,
                "readonly-mode" => c.readonly_mode = true,
                "no-gc-warning" => c.no_gc_warning = true,
                "option" => {
                    let v1 = s.values.get(1).cloned().unwrap_or_default();
                    c.options.push((v0.clone(), v1.clone()));
                    c.settings.push((v0, v1));
                }
                settings::RELAXED_SANDBOX_ID => {
                    c.settings.push(("sandbox".into(), "relaxed".into()));
                }
                _ => {
                    if let Some(name) = id.strip_prefix("legacy-int:") {
                        // Nix converts these at parse time, unit suffix included.
                        let n = parse_int_with_unit(&v0, false)?;
                        c.settings.push((name.to_owned(), n.to_string()));
                    } else if let Some(name) = id.strip_prefix("set:") {
                        let v = if s.values.is_empty() {
                            "true".to_owned()
                        } else {
                            v0
                        };
                        c.settings.push((name.to_owned(), v));
                    } else if let Some(name) = id.strip_prefix("set-no:") {
                        c.settings.push((name.to_owned(), "false".into()));
                    } else if let Some(name) = id.strip_prefix("set-extra:") {
                        c.settings.push((format!("extra-{name}"), v0));
                    }
                }
            }
        }
        Ok(c)
    }
}

/// Parses an integer with an optional binary unit suffix (`K`, `M`, `G`, `T`, either case),
/// with Nix's error messages. Negative numbers are refused unless `signed`.
pub fn parse_int_with_unit(s: &str, signed: bool) -> Result<i128, String> {
    let mut digits = s;
    let mut multiplier: i128 = 1;
    if let Some(last) = s.chars().last() {
        if last.is_ascii_alphabetic() {
            multiplier = match last.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                u => return Err(format!("invalid unit specifier '{u}'")),
            };
            digits = &s[..s.len() - 1];
        }
    }
    let not_int = || format!("'{digits}' is not an integer");
    if digits.starts_with('-') && !signed {
        return Err(not_int());
    }
    let body = digits.strip_prefix(['+', '-']).unwrap_or(digits);
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
        return Err(not_int());
    }
    let n: i128 = digits.parse().map_err(|_| not_int())?;
    let limit = if signed {
        i64::MAX as i128
    } else {
        u64::MAX as i128
    };
    if n > limit || n < i64::MIN as i128 {
        return Err(not_int());
    }
    Ok(n.saturating_mul(multiplier))
}

/// Nix's `MixEvalArgs`: how expressions get their inputs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EvalArgs {
    /// `--arg NAME EXPR`, in order.
    pub args: Vec<(String, String)>,
    /// `--argstr NAME STRING`, in order.
    pub argstrs: Vec<(String, String)>,
    /// `-I` / `--include PATH`, in order.
    pub include: Vec<String>,
    /// `--impure`.
    pub impure: bool,
    /// `--override-flake ORIGINAL RESOLVED`.
    pub override_flake: Vec<(String, String)>,
    /// `--eval-store URL`.
    pub eval_store: Option<String>,
}

impl EvalArgs {
    fn from_seen(seen: &[scan::Seen]) -> EvalArgs {
        let mut e = EvalArgs::default();
        let pair = |s: &scan::Seen| {
            (
                s.values.first().cloned().unwrap_or_default(),
                s.values.get(1).cloned().unwrap_or_default(),
            )
        };
        for s in seen {
            match s.id.as_str() {
                "arg" => e.args.push(pair(s)),
                "argstr" => e.argstrs.push(pair(s)),
                "include" => e.include.extend(s.values.first().cloned()),
                "impure" => e.impure = true,
                "override-flake" => e.override_flake.push(pair(s)),
                "eval-store" => e.eval_store = s.values.first().cloned(),
                _ => {}
            }
        }
        e
    }
}

fn flag(id: &'static str, long: &'static str, help: &'static str) -> Arg {
    Arg::new(id)
        .long(long)
        .action(ArgAction::SetTrue)
        .help(help)
}

fn value(id: &'static str, long: &'static str, name: &'static str, help: &'static str) -> Arg {
    Arg::new(id)
        .long(long)
        .num_args(1)
        .value_name(name)
        .action(ArgAction::Append)
        .allow_hyphen_values(true)
        .help(help)
}

fn pair(id: &'static str, long: &'static str, names: [&'static str; 2], help: &'static str) -> Arg {
    Arg::new(id)
        .long(long)
        .num_args(2)
        .value_names(names)
        .action(ArgAction::Append)
        .allow_hyphen_values(true)
        .help(help)
}

const COMMON: &str = "Common options";

const SETTINGS_NOTE: &str = "Every configuration setting NAME (see nix.conf) is also a flag: \
--NAME VALUE, or --NAME / --no-NAME for a boolean setting; list settings also take \
--extra-NAME VALUE.";
const EVAL: &str = "Evaluation options";

/// Adds `--help`, `--version` and the common flags (see [`CommonArgs`]) to `cmd`.
fn add_common_flags(cmd: Command, legacy: bool) -> Command {
    let mut cmd = cmd
        .arg(flag("help", "help", "Show this help and exit").help_heading(COMMON))
        .arg(flag("version", "version", "Print the version and exit").help_heading(COMMON))
        .arg(
            Arg::new("verbose")
                .long("verbose")
                .short('v')
                .action(ArgAction::Count)
                .help("Log more; may be repeated (-vvv)")
                .help_heading(COMMON),
        )
        .arg(
            Arg::new("quiet")
                .long("quiet")
                .action(ArgAction::Count)
                .help("Log less; may be repeated")
                .help_heading(COMMON),
        )
        .arg(flag("debug", "debug", "Log at debug level").help_heading(COMMON))
        .arg(
            pair(
                "option",
                "option",
                ["NAME", "VALUE"],
                "Override the configuration setting NAME",
            )
            .help_heading(COMMON),
        )
        .arg(
            value(
                "log-format",
                "log-format",
                "FORMAT",
                "Log format: raw, internal-json, bar or bar-with-logs",
            )
            .help_heading(COMMON),
        )
        .arg(
            value(
                "set:max-jobs",
                "max-jobs",
                "JOBS",
                "How many builds may run at once",
            )
            .short('j')
            .help_heading(COMMON),
        );
    if legacy {
        cmd = cmd
            .arg(
                flag(
                    "no-build-output",
                    "no-build-output",
                    "Hide the output of builders",
                )
                .short('Q')
                .help_heading(COMMON),
            )
            .arg(
                flag(
                    "set:keep-failed",
                    "keep-failed",
                    "Keep the build directories of failed builds",
                )
                .short('K')
                .help_heading(COMMON),
            )
            .arg(
                flag(
                    "set:keep-going",
                    "keep-going",
                    "Continue with other builds when one fails",
                )
                .short('k')
                .help_heading(COMMON),
            )
            .arg(
                flag(
                    "set:fallback",
                    "fallback",
                    "Build locally when substitution fails",
                )
                .help_heading(COMMON),
            )
            .arg(
                value(
                    "legacy-int:cores",
                    "cores",
                    "N",
                    "CPU cores each build may use",
                )
                .help_heading(COMMON),
            )
            .arg(
                value(
                    "legacy-int:max-silent-time",
                    "max-silent-time",
                    "N",
                    "Kill a build after N seconds without output",
                )
                .help_heading(COMMON),
            )
            .arg(
                value(
                    "legacy-int:timeout",
                    "timeout",
                    "N",
                    "Kill a build after N seconds",
                )
                .help_heading(COMMON),
            )
            .arg(
                flag(
                    "readonly-mode",
                    "readonly-mode",
                    "Never write to the Nix store",
                )
                .help_heading(COMMON),
            )
            .arg(
                flag(
                    "no-gc-warning",
                    "no-gc-warning",
                    "Do not warn about results that are not GC roots",
                )
                .help_heading(COMMON),
            )
            .arg(value("set:store", "store", "STORE-URI", "The store to use").help_heading(COMMON));
    }
    cmd
}

/// Adds the evaluation flags (see [`EvalArgs`]) to `cmd`.
fn add_eval_flags(cmd: Command) -> Command {
    cmd.arg(
        pair(
            "arg",
            "arg",
            ["NAME", "EXPR"],
            "Pass the Nix expression EXPR as argument NAME",
        )
        .help_heading(EVAL),
    )
    .arg(
        pair(
            "argstr",
            "argstr",
            ["NAME", "STRING"],
            "Pass STRING as argument NAME",
        )
        .help_heading(EVAL),
    )
    .arg(
        value(
            "include",
            "include",
            "PATH",
            "Add PATH to the search path for <...> lookups",
        )
        .short('I')
        .help_heading(EVAL),
    )
    .arg(flag("impure", "impure", "Allow impure evaluation").help_heading(EVAL))
    .arg(
        pair(
            "override-flake",
            "override-flake",
            ["ORIGINAL-REF", "RESOLVED-REF"],
            "Redirect a flake reference",
        )
        .help_heading(EVAL),
    )
    .arg(
        value(
            "eval-store",
            "eval-store",
            "STORE-URL",
            "The store to evaluate against",
        )
        .help_heading(EVAL),
    )
}

/// The per-command part of the parse: a clap-derived struct plus how Nix treats its words.
pub(crate) trait CommandSpec: FromArgMatches + clap::CommandFactory {
    const PROGRAM: Program;
    const SPEC: scan::Spec;
    const EVAL_FLAGS: bool;
}

/// The fully built clap command for `P`, with common, evaluation and setting flags.
pub(crate) fn build_command<P: CommandSpec>(inv: &Invocation) -> Command {
    let legacy = P::PROGRAM != Program::Repl;
    let mut cmd = P::command()
        .name(P::PROGRAM.nix_name())
        .bin_name(inv.display_name())
        .about(P::PROGRAM.about())
        .disable_help_flag(true)
        .disable_version_flag(true)
        .args_override_self(true)
        .dont_collapse_args_in_usage(true)
        .after_help(SETTINGS_NOTE);
    cmd = add_common_flags(cmd, legacy);
    if P::EVAL_FLAGS {
        cmd = add_eval_flags(cmd);
    }
    cmd = settings::add_setting_flags(cmd);
    cmd.build();
    cmd
}

/// What a successful parse gives a command.
pub(crate) struct Parsed<P> {
    pub cli: P,
    pub scan: scan::Scan,
    pub common: CommonArgs,
    pub eval: EvalArgs,
}

/// Parses `args` for command `P`. `Err` holds the exit status, after printing the help, the
/// version or a usage error.
pub(crate) fn parse<P: CommandSpec>(inv: &Invocation, args: &[String]) -> Result<Parsed<P>, i32> {
    let mut cmd = build_command::<P>(inv);
    let scanned = scan::scan(&cmd, &P::SPEC, args).map_err(|m| inv.usage_error(&m))?;
    let common = CommonArgs::from_seen(&scanned.seen).map_err(|m| inv.usage_error(&m))?;
    match scanned.early {
        Some(scan::Early::Help) => {
            out_line!("{}", cmd.render_help());
            return Err(0);
        }
        Some(scan::Early::Version) => {
            inv.print_version(common.verbosity);
            return Err(0);
        }
        None => {}
    }
    let matches: ArgMatches = cmd
        .try_get_matches_from_mut(
            std::iter::once(inv.program.nix_name().to_owned()).chain(scanned.clap_argv.clone()),
        )
        .map_err(|e| inv.usage_error(&clap_message(&e)))?;
    let cli = P::from_arg_matches(&matches).map_err(|e| inv.usage_error(&clap_message(&e)))?;
    let eval = EvalArgs::from_seen(&scanned.seen);
    let mut common = common;
    common.config = crate::config::resolve(&common).map_err(|e| {
        if e.is_usage() {
            inv.usage_error(&e.to_string())
        } else {
            err_line!("error: {e}");
            1
        }
    })?;
    Ok(Parsed {
        cli,
        scan: scanned,
        common,
        eval,
    })
}

/// The first line of a clap error, without its own `error: ` prefix.
fn clap_message(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let first = text.lines().next().unwrap_or("invalid arguments");
    first.strip_prefix("error: ").unwrap_or(first).to_owned()
}
