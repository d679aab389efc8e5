//! The network side of Ferrix: one HTTP layer ([`http`]) that the fetchers and the
//! binary-cache stores share; the fetchers ([`fetchers`], [`git`]) with their cache
//! ([`cache`]) and the unpacking of archives ([`unpack`]); binary-cache stores
//! ([`binary_cache`], [`narinfo`], [`narinfo_cache`], [`compression`]); and `log-servers`
//! ([`logs`]).
//!
//! Libraries report progress as events; nothing here prints.

pub mod binary_cache;
pub mod cache;
pub mod compression;
pub mod fetchers;
pub mod git;
pub mod hg;
pub mod http;
pub mod logs;
pub mod narinfo;
pub mod narinfo_cache;
pub mod unpack;

pub use fetchers::{FetchError, FetchEvent, FetchOptions, Fetcher};
