//! Which store a command works on, from the environment and the command line.

use crate::cli::CommonArgs;
use ferrix_primops::store_session::StoreSession;
use ferrix_store::store::ReadOnlyStore;
use ferrix_store::StoreDir;

/// The store session for an evaluation. Read-only mode computes paths without writing.
pub fn open(read_only: bool, _common: &CommonArgs) -> Result<StoreSession, String> {
    let dir = StoreDir::from_env();
    // Until the local store lands, every store computes paths only.
    let _ = read_only;
    Ok(StoreSession::new(Box::new(ReadOnlyStore::new(dir))))
}
