//! Which store a command works on, from the environment and the command line.

use crate::cli::CommonArgs;
use ferrix_primops::store_session::StoreSession;
use ferrix_store::{open_store, StoreOptions};

/// The store options the command line and environment ask for: `--store` (or the `store`
/// setting), `--readonly-mode`, `use-case-hack` and `fsync-metadata`.
pub fn options(read_only: bool, common: &CommonArgs) -> StoreOptions {
    let c = &common.config;
    StoreOptions {
        // `auto` (the default) leaves the choice to `NIX_REMOTE`, as in Nix.
        store_uri: Some(c.store.clone()).filter(|s| s != "auto"),
        read_only,
        case_hack: c.use_case_hack,
        fsync: c.fsync_metadata,
    }
}

/// The store session for an evaluation. Read-only mode computes paths without writing.
pub fn open(read_only: bool, common: &CommonArgs) -> Result<StoreSession, String> {
    let store = open_store(&options(read_only, common)).map_err(|e| e.to_string())?;
    Ok(StoreSession::new(store))
}
