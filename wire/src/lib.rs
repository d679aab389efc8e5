//! The Nix worker protocol, the one `nix-daemon` speaks over its Unix socket (and
//! `ssh-ng://` over a pipe), as Nix 2.8 speaks it: version 1.34; and the `nix-store
//! --serve` protocol 2.7 ([`serve`]) that `ssh://` stores speak.
//!
//! This crate is the pure encoding, shared by the client store and the server. It reads
//! and writes through [`std::io::Read`] and [`std::io::Write`] and nothing else, and every
//! decoder is total: any input gives a value or a [`WireError`], never a panic, and no
//! allocation larger than the data received.
//!
//! # A connection
//!
//! 1. [`handshake`]: the client sends a magic number and the server answers with its own and
//!    its protocol version; the client sends its version and a few obsolete words; from 1.33
//!    the server sends its Nix version. Both sides then speak the lower of the two versions
//!    (a [`Version`]), and every encoder and decoder here takes it.
//! 2. The server sends log messages ([`StderrMsg`]) and then [`StderrMsg::Last`], or an
//!    error if it refuses the client.
//! 3. Operations: the client sends a [`Request`] (an [`Op`] code and its arguments) and
//!    maybe a payload (see [`Request::payload`]); the server answers with log messages ended
//!    by `Last` (or `Error`), and then the [`Reply`].
//!
//! Payloads of unknown length are either [`framed`] or a NAR sent inline, whose end only a
//! parser finds ([`copy_nar`]).

pub mod client;
pub mod codec;
pub mod convert;
pub mod derivation;
pub mod derived;
mod error;
pub mod framed;
pub mod handshake;
pub mod logger;
mod nar;
pub mod op;
pub mod path_info;
pub mod reply;
pub mod request;
pub mod serve;
pub mod settings;
pub mod ssh;

pub use derivation::{BasicDerivation, DerivationOutput};
pub use derived::{BuildMode, BuildResult, BuildStatus, DerivedPath, KeyedBuildResult};
pub use error::{Result, WireError};
pub use framed::{FramedReader, FramedWriter};
pub use handshake::{client_handshake, server_handshake, ClientInfo, ServerInfo};
pub use logger::{
    answer_read, ActivityType, Field, RemoteError, ResultType, StderrMsg, TunnelReader,
    TunnelWriter,
};
pub use nar::{copy_nar, skip_nar};
pub use op::Op;
pub use path_info::{
    read_multiple_entry_info, read_path_info, write_multiple_entry, write_path_info,
    SubstitutablePathInfo,
};
pub use reply::{GcResult, MissingInfo, Reply};
pub use request::{AddToStore, CaMethod, GcAction, GcOptions, Payload, RegisterDrvOutput, Request};
pub use settings::{ClientSettings, Verbosity};

use std::fmt;

/// The client's greeting.
pub const WORKER_MAGIC_1: u64 = 0x6e69_7863;
/// The server's answer.
pub const WORKER_MAGIC_2: u64 = 0x6478_696f;

/// A protocol version, `major << 8 | minor`, as the handshake sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub u32);

impl Version {
    /// The version Nix 2.8 and this crate speak: 1.34.
    pub const CURRENT: Version = Version(1 << 8 | 34);
    /// The oldest version a server accepts: 1.10.
    pub const OLDEST: Version = Version(1 << 8 | 10);

    pub const fn new(major: u8, minor: u8) -> Version {
        Version((major as u32) << 8 | minor as u32)
    }

    /// The major version: the bits `0xff00`, shifted down.
    pub const fn major(self) -> u32 {
        (self.0 & 0xff00) >> 8
    }

    /// The minor version: the bits `0x00ff`. Conditions in the protocol test this.
    pub const fn minor(self) -> u32 {
        self.0 & 0xff
    }

    /// Whether the minor version is at least `minor`.
    pub const fn at_least(self, minor: u32) -> bool {
        self.minor() >= minor
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major(), self.minor())
    }
}

#[cfg(test)]
mod tests;
