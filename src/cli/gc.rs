//! `ferrix collect-garbage` / `nix-collect-garbage`.

use super::{parse, scan::Spec, CommandSpec, Invocation, Program};
use crate::cli::CommonArgs;

/// The clap side of `nix-collect-garbage`'s own flags.
#[derive(clap::Parser, Debug)]
#[command(override_usage = "nix-collect-garbage [OPTIONS]")]
pub(crate) struct Cli {
    /// Delete every generation of every profile except the current one, then collect
    #[arg(short = 'd', long = "delete-old")]
    delete_old: bool,
    /// Delete the generations older than PERIOD (such as 14d), except the one that was
    /// current then and the current one, then collect
    #[arg(
        long = "delete-older-than",
        value_name = "PERIOD",
        allow_hyphen_values = true
    )]
    delete_older_than: Vec<String>,
    /// Only print which generations would be deleted; collect nothing
    #[arg(long = "dry-run")]
    dry_run: bool,
    /// Stop once this many bytes are freed (a K, M, G or T suffix is allowed)
    #[arg(long = "max-freed", value_name = "BYTES", allow_hyphen_values = true)]
    max_freed: Vec<String>,
}

impl CommandSpec for Cli {
    const PROGRAM: Program = Program::CollectGarbage;
    const SPEC: Spec = Spec {
        getarg_ids: &["delete_older_than", "max_freed"],
        stdin_dash: false,
        legacy: true,
        unknown_as_op_flags: false,
        op_flag_ids: &[],
        version_is_op: false,
    };
    const EVAL_FLAGS: bool = false;
}

/// Everything `nix-collect-garbage` was asked to do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcArgs {
    /// `-d`, or implied by `--delete-older-than`.
    pub delete_old: bool,
    /// `--delete-older-than`, as given: like Nix, it is checked when the first profile
    /// is reached (see [`parse_days`]).
    pub older_than: Option<String>,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--max-freed`, in bytes.
    pub max_freed: u64,
    /// Verbosity, settings and the other shared flags.
    pub common: CommonArgs,
}

/// Nix's `--delete-older-than` syntax: a positive number of days, `Nd`.
pub fn parse_days(spec: &str) -> Result<u64, String> {
    let Some(num) = spec.strip_suffix('d') else {
        return Err(format!(
            "invalid number of days specifier '{spec}', expected something like '14d'"
        ));
    };
    match num.parse::<i32>() {
        Ok(n) if n >= 1 => Ok(n as u64),
        _ => Err(format!("invalid number of days specifier '{spec}'")),
    }
}

/// Parses `nix-collect-garbage`'s arguments (argv without the program name).
pub fn parse_args(inv: &Invocation, args: &[String]) -> Result<GcArgs, i32> {
    let p = parse::<Cli>(inv, args)?;
    let c = p.cli;
    let older_than = c.delete_older_than.last().cloned();
    let max_freed = match c.max_freed.last() {
        Some(v) => {
            let n = crate::cli::parse_int_with_unit(v, true).map_err(|m| inv.usage_error(&m))?;
            u64::try_from(n.max(0)).unwrap_or(u64::MAX)
        }
        None => u64::MAX,
    };
    Ok(GcArgs {
        delete_old: c.delete_old || older_than.is_some(),
        older_than,
        dry_run: c.dry_run,
        max_freed,
        common: p.common,
    })
}

/// Entry point of `nix-collect-garbage`.
pub fn main(inv: &Invocation, args: &[String]) -> i32 {
    match parse_args(inv, args) {
        Ok(a) => crate::gc_cmd::run(inv, &a),
        Err(code) => code,
    }
}
