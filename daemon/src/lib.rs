//! The servers: `nix-daemon`, which serves Nix's worker protocol on a Unix socket (or on
//! standard input and output) against the local store, and `nix-store --serve`
//! ([`serve`]), the serve protocol over an SSH session.
//!
//! Every connection is served by a process of its own, forked from the listener, as Nix's
//! daemon does: one client's failure, crash or exhaustion of memory never touches another,
//! and each client's settings, build users and interrupts stay its own. Clients are
//! identified with `SO_PEERCRED` and checked against `allowed-users` and `trusted-users`.

pub mod latency;
pub mod listener;
pub mod recursive;
pub mod serve;
pub mod trust;
pub mod worker;

pub use listener::{run_socket, run_stdio, DaemonConfig};
pub use trust::Peer;
