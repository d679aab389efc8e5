//! What to build, how, and what came of it: derived paths, build modes and build results.

use crate::codec::{
    read_bool, read_bytes, read_count, read_string, read_time, read_u32, write_bool, write_bytes,
    write_string, write_time, write_u64,
};
use crate::error::{Result, WireError};
use crate::Version;
use ferrix_store::path::{StoreDir, StorePath};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};

/// A path to make valid: a store path as it is, or outputs of a derivation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DerivedPath {
    /// The path itself (substituted if need be). For a `.drv`, the file, not its outputs.
    Opaque(StorePath),
    /// Outputs of a derivation, built or substituted. No names means all outputs.
    Built {
        drv: StorePath,
        outputs: BTreeSet<String>,
    },
}

fn split_outputs(s: &str) -> BTreeSet<String> {
    s.split(',')
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

impl DerivedPath {
    /// The form of 1.30 and later: `path`, `drv!out1,out2`, or `drv!*` for all outputs.
    pub fn to_string(&self, dir: &StoreDir) -> String {
        match self {
            DerivedPath::Opaque(p) => dir.display(p),
            DerivedPath::Built { drv, outputs } => {
                let outs = if outputs.is_empty() {
                    "*".to_string()
                } else {
                    outputs
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                        .join(",")
                };
                format!("{}!{outs}", dir.display(drv))
            }
        }
    }

    /// Parses the form of 1.30 and later. Output names are split at commas, empty ones
    /// dropped, and `*` (or nothing) means all outputs, as in Nix. (`*` alone after empty
    /// names are dropped, as in `drv!*,`, also means all: no output can be called `*`.)
    pub fn parse(s: &str, dir: &StoreDir) -> Result<DerivedPath> {
        match s.split_once('!') {
            None => Ok(DerivedPath::Opaque(dir.parse_as_nix(s)?)),
            Some((p, outs)) => {
                let mut outputs = split_outputs(outs);
                if outputs.len() == 1 && outputs.contains("*") {
                    outputs.clear();
                }
                Ok(DerivedPath::Built {
                    drv: dir.parse_as_nix(p)?,
                    outputs,
                })
            }
        }
    }

    /// The form before 1.30, a path with outputs: `path` or `drv!out1,out2`, where a
    /// `.drv` alone means all its outputs. A `.drv` file itself cannot be asked for.
    pub fn to_legacy_string(&self, dir: &StoreDir, ver: Version) -> Result<String> {
        match self {
            DerivedPath::Opaque(p) if p.is_derivation() => Err(WireError::NotInVersion {
                what: "a derivation file itself (rather than its outputs)",
                version: ver,
            }),
            DerivedPath::Opaque(p) => Ok(dir.display(p)),
            DerivedPath::Built { drv, outputs } if outputs.is_empty() => Ok(dir.display(drv)),
            DerivedPath::Built { drv, outputs } => Ok(format!(
                "{}!{}",
                dir.display(drv),
                outputs
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            )),
        }
    }

    /// Parses the form before 1.30. A `.drv`, or any path with outputs, is a build.
    pub fn parse_legacy(s: &str, dir: &StoreDir) -> Result<DerivedPath> {
        let (p, outputs) = match s.split_once('!') {
            None => (s, BTreeSet::new()),
            Some((p, outs)) => (p, split_outputs(outs)),
        };
        let path = dir.parse_as_nix(p)?;
        if !outputs.is_empty() || path.is_derivation() {
            Ok(DerivedPath::Built { drv: path, outputs })
        } else {
            Ok(DerivedPath::Opaque(path))
        }
    }

    /// One derived path in the form of protocol `ver`.
    pub fn read<R: Read + ?Sized>(r: &mut R, dir: &StoreDir, ver: Version) -> Result<Self> {
        let s = read_string(r, "derived path")?;
        if ver.at_least(30) {
            DerivedPath::parse(&s, dir)
        } else {
            DerivedPath::parse_legacy(&s, dir)
        }
    }

    pub fn write<W: Write + ?Sized>(&self, w: &mut W, dir: &StoreDir, ver: Version) -> Result<()> {
        if ver.at_least(30) {
            write_string(w, &self.to_string(dir))
        } else {
            write_string(w, &self.to_legacy_string(dir, ver)?)
        }
    }
}

/// A list of derived paths in the form of protocol `ver`.
pub fn read_derived_paths<R: Read + ?Sized>(
    r: &mut R,
    dir: &StoreDir,
    ver: Version,
) -> Result<Vec<DerivedPath>> {
    let n = read_count(r)?;
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(DerivedPath::read(r, dir, ver)?);
    }
    Ok(v)
}

pub fn write_derived_paths<W: Write + ?Sized>(
    w: &mut W,
    dir: &StoreDir,
    ver: Version,
    paths: &[DerivedPath],
) -> Result<()> {
    write_u64(w, paths.len() as u64)?;
    for p in paths {
        p.write(w, dir, ver)?;
    }
    Ok(())
}

macro_rules! code_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal { $($(#[$vdoc:meta])* $v:ident = $c:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vdoc])* $v = $c,)*
        }

        impl $name {
            /// Every value, in code order.
            pub const ALL: &'static [$name] = &[$($name::$v,)*];

            pub fn from_code(code: u64) -> Result<$name> {
                match code {
                    $($c => Ok($name::$v),)*
                    _ => Err(WireError::UnknownValue { what: $what, value: code }),
                }
            }

            pub fn code(self) -> u64 {
                self as u64
            }

            /// Reads it as Nix does, an `unsigned int`.
            pub fn read<R: Read + ?Sized>(r: &mut R) -> Result<$name> {
                $name::from_code(u64::from(read_u32(r, $what)?))
            }

            pub fn write<W: Write + ?Sized>(self, w: &mut W) -> Result<()> {
                write_u64(w, self.code())
            }
        }
    };
}
pub(crate) use code_enum;

code_enum! {
    /// How to build.
    BuildMode, "build mode" {
        Normal = 0,
        Repair = 1,
        Check = 2,
    }
}

/// How a build or substitution ended: the store's type, with its codes on the wire.
pub use ferrix_store::store::BuildStatus;

fn read_status<R: Read + ?Sized>(r: &mut R) -> Result<BuildStatus> {
    let code = u64::from(read_u32(r, "build status")?);
    BuildStatus::from_code(code).ok_or(WireError::UnknownValue {
        what: "build status",
        value: code,
    })
}

fn write_status<W: Write + ?Sized>(w: &mut W, s: BuildStatus) -> Result<()> {
    write_u64(w, s as u64)
}

/// The outcome of building or substituting one derived path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildResult {
    pub status: BuildStatus,
    /// The error, empty on success. It may quote build output, so it is bytes.
    pub error_msg: Vec<u8>,
    /// How many times the build ran (from 1.29).
    pub times_built: u32,
    /// Whether repeated builds differed (from 1.29).
    pub is_non_deterministic: bool,
    /// Seconds since the epoch (from 1.29).
    pub start_time: i64,
    pub stop_time: i64,
    /// From 1.28: each output built, by its id `<hash algo>:<hash>!<output>`, to its
    /// realisation as Nix's JSON text.
    pub built_outputs: BTreeMap<String, String>,
}

impl BuildResult {
    /// A result with just a status and a message.
    pub fn new(status: BuildStatus, error_msg: impl Into<Vec<u8>>) -> BuildResult {
        BuildResult {
            status,
            error_msg: error_msg.into(),
            times_built: 0,
            is_non_deterministic: false,
            start_time: 0,
            stop_time: 0,
            built_outputs: BTreeMap::new(),
        }
    }

    /// The `BuildDerivation` reply of protocol `ver`: status and message, the build counts
    /// and times from 1.29, the built outputs from 1.28.
    pub fn read<R: Read + ?Sized>(r: &mut R, ver: Version) -> Result<BuildResult> {
        let mut res = BuildResult::new(read_status(r)?, read_bytes(r)?);
        if ver.at_least(29) {
            res.read_counts(r)?;
        }
        if ver.at_least(28) {
            res.built_outputs = read_built_outputs(r)?;
        }
        Ok(res)
    }

    pub fn write<W: Write + ?Sized>(&self, w: &mut W, ver: Version) -> Result<()> {
        write_status(w, self.status)?;
        write_bytes(w, &self.error_msg)?;
        if ver.at_least(29) {
            self.write_counts(w)?;
        }
        if ver.at_least(28) {
            write_built_outputs(w, &self.built_outputs)?;
        }
        Ok(())
    }

    pub(crate) fn read_counts<R: Read + ?Sized>(&mut self, r: &mut R) -> Result<()> {
        self.times_built = read_u32(r, "timesBuilt")?;
        self.is_non_deterministic = read_bool(r)?;
        self.start_time = read_time(r)?;
        self.stop_time = read_time(r)?;
        Ok(())
    }

    pub(crate) fn write_counts<W: Write + ?Sized>(&self, w: &mut W) -> Result<()> {
        write_u64(w, u64::from(self.times_built))?;
        write_bool(w, self.is_non_deterministic)?;
        write_time(w, self.start_time)?;
        write_time(w, self.stop_time)
    }
}

pub(crate) fn read_built_outputs<R: Read + ?Sized>(r: &mut R) -> Result<BTreeMap<String, String>> {
    let n = read_count(r)?;
    let mut m = BTreeMap::new();
    for _ in 0..n {
        let id = read_string(r, "derivation output id")?;
        let realisation = read_string(r, "realisation")?;
        m.insert(id, realisation);
    }
    Ok(m)
}

pub(crate) fn write_built_outputs<W: Write + ?Sized>(
    w: &mut W,
    m: &BTreeMap<String, String>,
) -> Result<()> {
    write_u64(w, m.len() as u64)?;
    for (k, v) in m {
        write_string(w, k)?;
        write_string(w, v)?;
    }
    Ok(())
}

/// A build result with the path it is for, as `BuildPathsWithResults` answers (1.34): all
/// fields, whatever the version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedBuildResult {
    pub path: DerivedPath,
    pub result: BuildResult,
}

impl KeyedBuildResult {
    pub fn read<R: Read + ?Sized>(r: &mut R, dir: &StoreDir) -> Result<Self> {
        let s = read_string(r, "derived path")?;
        let path = DerivedPath::parse(&s, dir)?;
        let mut result = BuildResult::new(read_status(r)?, read_bytes(r)?);
        result.read_counts(r)?;
        result.built_outputs = read_built_outputs(r)?;
        Ok(KeyedBuildResult { path, result })
    }

    pub fn write<W: Write + ?Sized>(&self, w: &mut W, dir: &StoreDir) -> Result<()> {
        write_string(w, &self.path.to_string(dir))?;
        write_status(w, self.result.status)?;
        write_bytes(w, &self.result.error_msg)?;
        self.result.write_counts(w)?;
        write_built_outputs(w, &self.result.built_outputs)
    }
}
