//! Which store a command works on, from the environment and the command line.

use crate::cli::CommonArgs;
use ferrix_primops::store_session::StoreSession;
use ferrix_store::local::{LocalStore, Log};
use ferrix_store::{resolve, Store, StoreError, StoreKind, StoreOptions};
use std::sync::Arc;

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
    let store = open_store(&options(read_only, common), common).map_err(|e| e.to_string())?;
    Ok(StoreSession::new(store))
}

/// Prints the messages of long store operations as Nix does, at the command's verbosity.
pub fn print_log(verbosity: u8) -> impl Fn(Log) + Send + Sync {
    move |l| {
        let line = match l {
            Log::Info(m) if verbosity >= crate::cli::VERBOSITY_INFO => m,
            Log::Info(_) => return,
            Log::Error(m) => m,
            Log::PrefixedError(m) => format!("error: {m}"),
            Log::Warn(m) => format!("warning: {m}"),
        };
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "{line}");
    }
}

/// Opens the store `opts` name, with the command's settings: a local store builds with the
/// builder and the command's build settings, prints its messages at the command's
/// verbosity and checks signatures as `require-sigs` and `trusted-public-keys` say.
pub fn open_store(opts: &StoreOptions, common: &CommonArgs) -> Result<Box<dyn Store>, StoreError> {
    match resolve(opts)? {
        StoreKind::Local(cfg) => {
            let store = LocalStore::open(cfg)?;
            configure_local(&store, common);
            Ok(Box::new(store))
        }
        StoreKind::Dummy(_) => ferrix_store::open_store(opts),
        StoreKind::Daemon { socket, .. } => Err(StoreError::Other(format!(
            "Ferrix cannot use the Nix daemon at '{}' yet",
            socket.display()
        ))),
    }
}

/// Gives a local store its builder, logger and signature policy from `common`.
pub fn configure_local(store: &LocalStore, common: &CommonArgs) {
    let mut build = crate::build_cmd::settings(common).unwrap_or_default();
    // Commands print what will be built themselves (from `query_missing`), as Nix does.
    build.print_missing = false;
    store.set_realiser(Arc::new(ferrix_builder::realiser::LocalRealiser::new(
        build,
    )));
    store.set_logger(Arc::new(print_log(common.verbosity)));
    let c = &common.config;
    store.set_signature_policy(c.require_sigs, c.trusted_public_keys.clone());
}
