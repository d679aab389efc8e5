//! Operation codes.

use crate::error::{Result, WireError};
use std::fmt;

macro_rules! ops {
    ($($(#[$doc:meta])* $name:ident = $code:literal,)*) => {
        /// An operation of the worker protocol, with Nix 2.8's code for it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Op {
            $($(#[$doc])* $name = $code,)*
        }

        impl Op {
            /// Every operation, in code order.
            pub const ALL: &'static [Op] = &[$(Op::$name,)*];

            /// The operation with code `code`.
            pub fn from_code(code: u64) -> Result<Op> {
                match code {
                    $($code => Ok(Op::$name),)*
                    _ => Err(WireError::UnknownOp(code)),
                }
            }

            /// Nix's name for it, as in `wopIsValidPath`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Op::$name => concat!("wop", stringify!($name)),)*
                }
            }
        }
    };
}

ops! {
    IsValidPath = 1,
    HasSubstitutes = 3,
    /// Obsolete.
    QueryPathHash = 4,
    /// Obsolete.
    QueryReferences = 5,
    QueryReferrers = 6,
    AddToStore = 7,
    /// Obsolete since 1.25 (`AddToStore` with a `text` method).
    AddTextToStore = 8,
    BuildPaths = 9,
    EnsurePath = 10,
    AddTempRoot = 11,
    AddIndirectRoot = 12,
    /// Obsolete; answered at once.
    SyncWithGC = 13,
    FindRoots = 14,
    /// Obsolete.
    ExportPath = 16,
    /// Obsolete.
    QueryDeriver = 18,
    SetOptions = 19,
    CollectGarbage = 20,
    QuerySubstitutablePathInfo = 21,
    /// Obsolete.
    QueryDerivationOutputs = 22,
    QueryAllValidPaths = 23,
    /// Not served by Nix 2.8.
    QueryFailedPaths = 24,
    /// Not served by Nix 2.8.
    ClearFailedPaths = 25,
    QueryPathInfo = 26,
    /// Obsolete.
    ImportPaths = 27,
    /// Obsolete.
    QueryDerivationOutputNames = 28,
    QueryPathFromHashPart = 29,
    QuerySubstitutablePathInfos = 30,
    QueryValidPaths = 31,
    QuerySubstitutablePaths = 32,
    QueryValidDerivers = 33,
    OptimiseStore = 34,
    VerifyStore = 35,
    BuildDerivation = 36,
    AddSignatures = 37,
    NarFromPath = 38,
    AddToStoreNar = 39,
    QueryMissing = 40,
    QueryDerivationOutputMap = 41,
    RegisterDrvOutput = 42,
    QueryRealisation = 43,
    AddMultipleToStore = 44,
    AddBuildLog = 45,
    BuildPathsWithResults = 46,
}

impl Op {
    /// The code sent on the wire.
    pub fn code(self) -> u64 {
        self as u64
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
