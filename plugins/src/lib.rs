//! Native primop plugins for Ferrix.
//!
//! Plugins talk to Ferrix through a small, versioned C ABI (`include/ferrix_plugin.h`, and
//! its Rust mirror `ferrix-plugin-abi`): an entry symbol that names the ABI version the
//! plugin was built for, opaque value handles, and a table of functions to build, force and
//! inspect values, call functions and raise errors. This crate is the host side:
//!
//! - [`loader`]: `dlopen` (through libloading), the version check, and primop registration;
//! - `host`: the handle table, call frames and the functions of the ABI;
//! - [`builtins`]: `importNative`, `exec` and the installation of plugin primops.
//!
//! A plugin primop is an ordinary `PrimOp` to the evaluator; the evaluator itself knows
//! nothing of plugins.

pub mod builtins;
mod host;
pub mod loader;

pub use builtins::{NativeConfig, UNSAFE_SETTING};
pub use ferrix_plugin_abi as abi;
pub use loader::{load, LoadError, Plugin};

use std::path::Path;

/// Loads the plugins of the `plugin-files` setting, as Nix does: an entry that is a
/// directory stands for every file in it. Errors are rendered as Nix words them
/// (without the leading `error: `).
pub fn load_plugin_files(entries: &[String]) -> Result<Vec<&'static Plugin>, String> {
    let mut out = Vec::new();
    for entry in entries {
        let files: Vec<std::path::PathBuf> = match std::fs::read_dir(entry) {
            Ok(dir) => {
                let mut v: Vec<_> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
                v.sort();
                v
            }
            Err(e) if e.raw_os_error() == Some(20) => vec![Path::new(entry).to_path_buf()],
            Err(e) => {
                return Err(format!(
                    "opening directory '{entry}': {}",
                    ferrix_eval::io_reason(&e)
                ))
            }
        };
        for f in files {
            let p = load(&f).map_err(|e| match e {
                LoadError::Open { path, reason } => {
                    format!("could not dynamically open plugin file '{path}': {reason}")
                }
                e => e.to_string(),
            })?;
            out.push(p);
        }
    }
    Ok(out)
}
