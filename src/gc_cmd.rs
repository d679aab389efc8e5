//! `nix-collect-garbage`: optionally deletes old generations of every profile under the
//! state directory's `profiles/` (`-d`, `--delete-older-than`), then collects garbage as
//! `nix-store --gc` does, printing Nix 2.8's closing line.

use crate::cli::gc::{parse_days, GcArgs};
use crate::cli::{Invocation, VERBOSITY_INFO};
use ferrix_store::profiles::delete_old_generations;
use ferrix_store::store::{GcAction, GcOptions};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

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
    crate::build_cmd::install_interrupt_handlers();
    let opts = crate::store_cmd::store_options(&a.common);
    let store = crate::store_setup::open_store(&opts, &a.common)?;
    let r = store.collect_garbage(&GcOptions {
        action: GcAction::DeleteDead,
        paths: BTreeSet::new(),
        ignore_liveness: false,
        max_freed: a.max_freed,
    });
    crate::store_cmd::print_freed_line(&r);
    r.map(|_| 0).map_err(Stop::from)
}
