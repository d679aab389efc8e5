//! The Nix store: store paths and their hashes, Nix32, NAR, `.drv` files, and the local
//! store with its SQLite database.

pub mod derivation;
pub mod hash;
pub mod nar;
pub mod nix32;
pub mod path;
pub mod store;

pub use hash::{Hash, HashAlgo};
pub use path::{StoreDir, StorePath};

/// The reason part of an I/O error, without Rust's " (os error N)" suffix, as Nix prints
/// `strerror`.
pub fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}
