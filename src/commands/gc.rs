//! `ferrix collect-garbage` / `nix-collect-garbage`: optionally deletes old generations of
//! every profile under the state directory's `profiles/` (`-d`, `--delete-older-than`),
//! then collects garbage as `nix-store --gc` does, printing Nix 2.8's closing line.

use crate::cli::{
    parse, parse_int_with_unit, scan::Spec, CommandSpec, CommonArgs, Invocation, Program,
    VERBOSITY_INFO,
};
use crate::shared::gc::print_freed_line;
use crate::shared::interrupt::install_interrupt_handlers;
use crate::store_setup::store_options;
use ferrix_store::profiles::delete_old_generations;
use ferrix_store::store::{GcAction, GcOptions};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

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
        ..Spec::LEGACY
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
            let n = parse_int_with_unit(v, true).map_err(|m| inv.usage_error(&m))?;
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
        Ok(a) => run(inv, &a),
        Err(code) => code,
    }
}

fn note(verbosity: u8, msg: &str) {
    if verbosity >= VERBOSITY_INFO {
        let _ = writeln!(std::io::stderr(), "{msg}");
    }
}

fn access(p: &Path, mode: nix::unistd::AccessFlags) -> bool {
    nix::unistd::access(p, mode).is_ok()
}

/// Walks `dir` for profiles (symlinks whose target names a generation link) and deletes
/// their old generations; directories are walked too (`per-user/NAME`).
/// Why `nix-collect-garbage` stopped.
enum Stop {
    Usage(String),
    Error(String),
}

impl From<ferrix_store::StoreError> for Stop {
    fn from(e: ferrix_store::StoreError) -> Self {
        Stop::Error(e.to_string())
    }
}

fn remove_old_generations(dir: &Path, a: &GcArgs) -> Result<(), Stop> {
    use nix::unistd::AccessFlags;
    if !access(dir, AccessFlags::R_OK) {
        return Ok(());
    }
    let can_write = access(dir, AccessFlags::W_OK);
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let mut entries: Vec<_> = rd.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_symlink() && can_write {
            let Ok(target) = std::fs::read_link(&path) else {
                continue;
            };
            if target.to_string_lossy().contains("link") {
                note(
                    a.common.verbosity,
                    &format!("removing old generations of profile {}", path.display()),
                );
                let older_than = match &a.older_than {
                    Some(spec) => {
                        let days = parse_days(spec).map_err(Stop::Usage)?;
                        Some(now() - (days as i64) * 24 * 3600)
                    }
                    None => None,
                };
                let v = a.common.verbosity;
                delete_old_generations(&path, older_than, a.dry_run, &mut |m| note(v, &m))?;
            }
        } else if ft.is_dir() {
            remove_old_generations(&path, a)?;
        }
    }
    Ok(())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Runs `nix-collect-garbage`; returns the exit status.
pub fn run(inv: &Invocation, a: &GcArgs) -> i32 {
    match run_inner(a) {
        Ok(code) => code,
        Err(Stop::Usage(m)) => inv.usage_error(&m),
        Err(Stop::Error(m)) => {
            let _ = writeln!(std::io::stderr(), "error: {m}");
            1
        }
    }
}

fn run_inner(a: &GcArgs) -> Result<i32, Stop> {
    if a.delete_old {
        let profiles = ferrix_store::open::state_dir_default().join("profiles");
        remove_old_generations(&profiles, a)?;
    }
    if a.dry_run {
        return Ok(0);
    }
    install_interrupt_handlers();
    let opts = store_options(&a.common);
    let store = crate::store_setup::open_store(&opts, &a.common)?;
    let r = store.collect_garbage(&GcOptions {
        action: GcAction::DeleteDead,
        paths: BTreeSet::new(),
        ignore_liveness: false,
        max_freed: a.max_freed,
    });
    print_freed_line(&r);
    r.map(|_| 0).map_err(Stop::from)
}
