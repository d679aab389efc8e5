//! The network side of Ferrix: one HTTP layer ([`http`]) that the fetchers and the
//! binary-cache stores share.
//!
//! Libraries report progress as events; nothing here prints.

pub mod binary_cache;
pub mod compression;
pub mod http;
pub mod narinfo;
pub mod narinfo_cache;
