//! The Nix store: store paths and their hashes, Nix32, NAR, `.drv` files, and the local
//! store with its SQLite database.
//!
//! # Opening a store
//!
//! The binary opens its store with one call:
//!
//! ```no_run
//! use ferrix_store::{open_store, StoreOptions};
//! let store = open_store(&StoreOptions {
//!     store_uri: Some("/tmp/chroot".into()), // `--store`; None: NIX_REMOTE, then `auto`
//!     read_only: false,                      // `--readonly-mode`
//!     ..StoreOptions::default()              // use-case-hack off, durable database
//! })?;
//! # Ok::<(), ferrix_store::StoreError>(())
//! ```
//!
//! `open_store(&StoreOptions) -> Result<Box<dyn Store>, StoreError>` understands:
//!
//! - nothing (or `auto`): the local store in `NIX_STORE_DIR` (default `/nix/store`) with its
//!   state in `NIX_STATE_DIR` (`/nix/var/nix`) and logs in `NIX_LOG_DIR`; a user who cannot
//!   write there, with no `/nix/var/nix` and no daemon, gets the chroot store
//!   `~/.local/share/nix/root`, as Nix does;
//! - `local`, `local?root=DIR&state=…&log=…&real=…&store=…`;
//! - a path `DIR`: a chroot store. Paths stay `/nix/store/…` logically; the bytes live in
//!   `DIR/nix/store` and the state in `DIR/nix/var/nix`;
//! - `dummy://`: a store with no paths that refuses additions.
//!
//! With `read_only`, nothing is written: `add_text`/`add_path` compute their paths (which
//! then count as valid for the rest of the session), and an existing database is read.
//!
//! [`Store`] is what evaluation needs; [`Store::as_local`] gives the [`LocalStore`] behind
//! it for `nix-store`'s other operations (queries, verification, export and import,
//! deletion), which live in [`local`], [`ops`] and [`export`].

pub mod autogc;
pub mod db;
pub mod derivation;
pub mod drv_check;
pub mod export;
pub mod gc;
pub mod hash;
pub mod local;
pub mod lock;
pub mod logs;
pub mod nar;
pub mod nix32;
pub mod open;
pub mod ops;
pub mod optimise;
pub mod path;
pub mod profiles;
pub mod realisation;
pub mod refs;
pub mod settings;
pub mod sigs;
pub mod store;

pub use db::PathInfo;
pub use hash::{Hash, HashAlgo};
pub use local::{LocalConfig, LocalStore};
pub use open::{open_store, resolve, StoreKind, StoreOptions};
pub use path::{StoreDir, StorePath};
pub use store::{Store, StoreError};

pub use ferrix_parser::diagnostic::io_reason;
