//! The network side of Ferrix: one HTTP layer ([`http`]) that the fetchers and the
//! binary-cache stores share; the fetchers ([`fetchers`], [`git`]) with their cache
//! ([`cache`]) and the unpacking of archives ([`unpack`]).
//!
//! Libraries report progress as events; nothing here prints.

pub mod cache;
pub mod fetchers;
pub mod git;
pub mod http;
pub mod logs;
pub mod unpack;

pub use fetchers::{FetchError, FetchEvent, FetchOptions, Fetcher};
