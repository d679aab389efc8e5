//! Why reading or writing the protocol failed.

use crate::Version;
use ferrix_store::hash::HashError;
use ferrix_store::path::PathError;
use std::io;

/// Everything a decoder or encoder of this crate can fail with. Decoders never panic and
/// never allocate more than they have received: any input gives a value or one of these.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The stream ended in the middle of a value.
    #[error("unexpected end-of-file")]
    Eof,
    /// The underlying reader or writer failed.
    #[error("{0}")]
    Io(#[source] io::Error),
    /// The padding after a byte string was not all zeros.
    #[error("non-zero padding")]
    NonZeroPadding,
    /// A number does not fit the type Nix reads it as (`unsigned int`, `time_t`, `uint8_t`).
    #[error("serialised integer {value} is too large for {what}")]
    IntegerTooLarge { what: &'static str, value: u64 },
    /// A string longer than the reader allowed (as for `STDERR_READ` answers).
    #[error("string is too long ({len} bytes, at most {max} allowed)")]
    StringTooLong { len: u64, max: u64 },
    /// Text that must be UTF-8 (paths, names, hashes, settings) was not.
    #[error("{what} is not valid UTF-8")]
    NotUtf8 { what: &'static str },
    /// A store path that does not parse against the store directory.
    #[error(transparent)]
    Path(#[from] PathError),
    /// A hash that does not parse.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// The greeting did not start with the expected magic number.
    #[error("protocol mismatch (expected magic {expected:#x}, got {got:#x})")]
    BadMagic { expected: u64, got: u64 },
    /// A peer whose protocol major version is not 1.
    #[error("Nix daemon protocol version not supported ({0})")]
    UnsupportedMajor(Version),
    /// A `nix-store --serve` peer whose protocol major version is not 2.
    #[error("unsupported 'nix-store --serve' protocol version ({0})")]
    UnsupportedServeMajor(Version),
    /// A client older than 1.10.
    #[error("the Nix client version is too old ({0})")]
    ClientTooOld(Version),
    /// A daemon older than 1.10.
    #[error("the Nix daemon version is too old ({0})")]
    DaemonTooOld(Version),
    /// An operation code that is not one of Nix 2.8's.
    #[error("invalid operation {0}")]
    UnknownOp(u64),
    /// An operation Nix 2.8 knows but its daemon does not serve (24, 25).
    #[error("operation {0} is not served by Nix 2.8 daemons")]
    UnservedOp(crate::Op),
    /// A logger message code that is not one of the `STDERR_*` codes.
    #[error("got unknown message type {0:#x} from Nix daemon")]
    UnknownStderr(u64),
    /// A number that names no value of an enumeration (build mode, status, GC action…).
    #[error("unknown {what} {value}")]
    UnknownValue { what: &'static str, value: u64 },
    /// A structured value written as text that does not parse (content-address method,
    /// derived path, error kind…).
    #[error("invalid {what} '{text}'")]
    BadText { what: &'static str, text: String },
    /// A remote error carrying a source position, which Nix 2.8 never sends.
    #[error("remote error with a position, which this protocol version does not carry")]
    ErrorPosition,
    /// A NAR embedded in the stream is not a valid archive.
    #[error("{0}")]
    BadNar(String),
    /// A value that the given protocol version cannot express (an encoder refusal).
    #[error("{what} cannot be sent with protocol version {version}")]
    NotInVersion {
        what: &'static str,
        version: Version,
    },
}

impl WireError {
    /// Whether the error is a short read (the peer went away or the input was cut).
    pub fn is_eof(&self) -> bool {
        matches!(self, WireError::Eof)
    }
}

impl From<io::Error> for WireError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            WireError::Eof
        } else {
            WireError::Io(e)
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = WireError> = std::result::Result<T, E>;

impl From<WireError> for ferrix_store::StoreError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::Io(e) => ferrix_store::StoreError::from(e),
            e => ferrix_store::StoreError::Other(e.to_string()),
        }
    }
}
