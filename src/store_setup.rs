//! Which store a command works on, from the environment and the command line.

use crate::cli::CommonArgs;
use ferrix_primops::store_session::StoreSession;
use ferrix_store::{open_store, StoreOptions};

/// The store options the command line and environment ask for: `--store` (or the `store`
/// setting), `--readonly-mode`, `use-case-hack` and `fsync-metadata`.
pub fn options(read_only: bool, common: &CommonArgs) -> StoreOptions {
    StoreOptions {
        store_uri: common.setting("store").map(str::to_string),
        read_only,
        case_hack: common.bool_setting("use-case-hack").unwrap_or(false),
        fsync: common.bool_setting("fsync-metadata").unwrap_or(true),
    }
}

/// The store session for an evaluation. Read-only mode computes paths without writing.
pub fn open(read_only: bool, common: &CommonArgs) -> Result<StoreSession, String> {
    let store = open_store(&options(read_only, common)).map_err(|e| e.to_string())?;
    Ok(StoreSession::new(store))
}
