//! Requests: an operation code and its arguments, as a client of a given version sends
//! them. Some operations carry a payload after the arguments; [`Request::payload`] says
//! which and how.

use crate::codec::{
    read_base_name, read_bool, read_bytes, read_count, read_path, read_path_set, read_string,
    read_string_set, read_u32, read_u64, write_bool, write_bytes, write_path, write_paths,
    write_string, write_string_list, write_u64,
};
use crate::derivation::BasicDerivation;
use crate::derived::{code_enum, read_derived_paths, write_derived_paths, BuildMode, DerivedPath};
use crate::error::{Result, WireError};
use crate::op::Op;
use crate::path_info::{read_path_info, write_path_info};
use crate::settings::ClientSettings;
use crate::Version;
use ferrix_store::hash::HashAlgo;
use ferrix_store::path::{Ingestion, StoreDir, StorePath};
use ferrix_store::PathInfo;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{Read, Write};

/// How `AddToStore` (1.25 on) makes the path: as text, or fixed with an ingestion method
/// and a hash algorithm. Written `text:sha256`, `fixed:r:sha256`, `fixed:sha1`…
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CaMethod {
    /// Always SHA-256.
    Text,
    Fixed {
        method: Ingestion,
        algo: HashAlgo,
    },
}

impl CaMethod {
    /// Parses the method as Nix's `parseContentAddressMethod` does.
    pub fn parse(s: &str) -> Result<CaMethod> {
        let bad = || WireError::BadText {
            what: "content address method",
            text: s.to_string(),
        };
        let algo = |a: &str| HashAlgo::parse(a).ok_or_else(bad);
        if let Some(a) = s.strip_prefix("text:") {
            if algo(a)? != HashAlgo::Sha256 {
                return Err(bad());
            }
            Ok(CaMethod::Text)
        } else if let Some(rest) = s.strip_prefix("fixed:") {
            let (method, a) = match rest.strip_prefix("r:") {
                Some(a) => (Ingestion::Recursive, a),
                None => (Ingestion::Flat, rest),
            };
            Ok(CaMethod::Fixed {
                method,
                algo: algo(a)?,
            })
        } else {
            Err(bad())
        }
    }
}

impl fmt::Display for CaMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaMethod::Text => f.write_str("text:sha256"),
            CaMethod::Fixed { method, algo } => {
                let r = if *method == Ingestion::Recursive {
                    "r:"
                } else {
                    ""
                };
                write!(f, "fixed:{r}{algo}")
            }
        }
    }
}

/// `AddToStore`'s arguments, in the form of the protocol version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddToStore {
    /// From 1.25. A framed payload follows: the text for [`CaMethod::Text`], the file's
    /// bytes for flat ingestion, a NAR for recursive ingestion.
    Ca {
        name: String,
        method: CaMethod,
        references: BTreeSet<StorePath>,
        repair: bool,
    },
    /// Before 1.25. A NAR follows inline (of the file, for flat ingestion). When `fixed`
    /// is false, Nix ignores `recursive` and `hash_algo` and uses recursive SHA-256.
    Legacy {
        name: String,
        fixed: bool,
        recursive: bool,
        hash_algo: String,
    },
}

impl AddToStore {
    /// What the legacy fields mean, as Nix 2.8 reads them.
    pub fn method(&self) -> Result<CaMethod> {
        match self {
            AddToStore::Ca { method, .. } => Ok(*method),
            AddToStore::Legacy { fixed: false, .. } => Ok(CaMethod::Fixed {
                method: Ingestion::Recursive,
                algo: HashAlgo::Sha256,
            }),
            AddToStore::Legacy {
                recursive,
                hash_algo,
                ..
            } => Ok(CaMethod::Fixed {
                method: if *recursive {
                    Ingestion::Recursive
                } else {
                    Ingestion::Flat
                },
                algo: HashAlgo::parse(hash_algo).ok_or_else(|| WireError::BadText {
                    what: "hash algorithm",
                    text: hash_algo.clone(),
                })?,
            }),
        }
    }
}

code_enum! {
    /// What `CollectGarbage` does.
    GcAction, "garbage collector action" {
        ReturnLive = 0,
        ReturnDead = 1,
        DeleteDead = 2,
        DeleteSpecific = 3,
    }
}

/// `CollectGarbage`'s arguments (three obsolete words follow them on the wire).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcOptions {
    pub action: GcAction,
    pub paths_to_delete: BTreeSet<StorePath>,
    pub ignore_liveness: bool,
    /// Bytes; `u64::MAX` for no limit.
    pub max_freed: u64,
}

/// `RegisterDrvOutput`'s argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterDrvOutput {
    /// Before 1.31: the output id (`<hash>!<output>`) and the output path's base name.
    Legacy { id: String, out_path: StorePath },
    /// From 1.31: the realisation as Nix's JSON text.
    Realisation(String),
}

/// What follows a request's arguments on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// Nothing.
    None,
    /// A framed stream ([`crate::FramedReader`]).
    Framed,
    /// One NAR, inline ([`crate::copy_nar`]).
    Nar,
    /// Data the server asks for with `STDERR_READ` while it works.
    OnRequest,
}

/// A request of the worker protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    IsValidPath(StorePath),
    HasSubstitutes(StorePath),
    QueryPathHash(StorePath),
    QueryReferences(StorePath),
    QueryReferrers(StorePath),
    AddToStore(AddToStore),
    /// The text, with its name and references.
    AddTextToStore {
        name: String,
        text: Vec<u8>,
        references: BTreeSet<StorePath>,
    },
    /// The build mode is sent from 1.15.
    BuildPaths {
        paths: Vec<DerivedPath>,
        mode: BuildMode,
    },
    EnsurePath(StorePath),
    AddTempRoot(StorePath),
    /// A path outside the store (a symlink to a store path).
    AddIndirectRoot(Vec<u8>),
    SyncWithGC,
    FindRoots,
    /// Sent with an obsolete word (0); the export comes in `STDERR_WRITE` messages.
    ExportPath(StorePath),
    QueryDeriver(StorePath),
    SetOptions(ClientSettings),
    CollectGarbage(GcOptions),
    QuerySubstitutablePathInfo(StorePath),
    QueryDerivationOutputs(StorePath),
    QueryAllValidPaths,
    QueryPathInfo(StorePath),
    /// No arguments; the export stream is sent on `STDERR_READ` requests.
    ImportPaths,
    QueryDerivationOutputNames(StorePath),
    QueryPathFromHashPart(String),
    /// Paths with their content addresses, if known (sent from 1.22; before, paths only).
    QuerySubstitutablePathInfos(BTreeMap<StorePath, Option<String>>),
    /// `substitute` is sent from 1.27.
    QueryValidPaths {
        paths: BTreeSet<StorePath>,
        substitute: bool,
    },
    QuerySubstitutablePaths(BTreeSet<StorePath>),
    QueryValidDerivers(StorePath),
    OptimiseStore,
    VerifyStore {
        check_contents: bool,
        repair: bool,
    },
    BuildDerivation {
        drv_path: StorePath,
        drv: Box<BasicDerivation>,
        mode: BuildMode,
    },
    AddSignatures {
        path: StorePath,
        sigs: BTreeSet<String>,
    },
    NarFromPath(StorePath),
    /// The NAR follows framed (1.23 on), on request (1.21, 1.22) or inline (before).
    AddToStoreNar {
        info: Box<PathInfo>,
        repair: bool,
        dont_check_sigs: bool,
    },
    QueryMissing(Vec<DerivedPath>),
    QueryDerivationOutputMap(StorePath),
    RegisterDrvOutput(RegisterDrvOutput),
    /// The output id, `<hash algo>:<hash>!<output>`.
    QueryRealisation(String),
    /// A framed stream follows: a count, then for each path its info (format 16, with the
    /// path) and its NAR.
    AddMultipleToStore {
        repair: bool,
        dont_check_sigs: bool,
    },
    /// Sent by base name; the log follows framed.
    AddBuildLog(StorePath),
    BuildPathsWithResults {
        paths: Vec<DerivedPath>,
        mode: BuildMode,
    },
}

fn too_new(what: &'static str, version: Version) -> WireError {
    WireError::NotInVersion { what, version }
}

impl Request {
    /// The request's operation.
    pub fn op(&self) -> Op {
        match self {
            Request::IsValidPath(_) => Op::IsValidPath,
            Request::HasSubstitutes(_) => Op::HasSubstitutes,
            Request::QueryPathHash(_) => Op::QueryPathHash,
            Request::QueryReferences(_) => Op::QueryReferences,
            Request::QueryReferrers(_) => Op::QueryReferrers,
            Request::AddToStore(_) => Op::AddToStore,
            Request::AddTextToStore { .. } => Op::AddTextToStore,
            Request::BuildPaths { .. } => Op::BuildPaths,
            Request::EnsurePath(_) => Op::EnsurePath,
            Request::AddTempRoot(_) => Op::AddTempRoot,
            Request::AddIndirectRoot(_) => Op::AddIndirectRoot,
            Request::SyncWithGC => Op::SyncWithGC,
            Request::FindRoots => Op::FindRoots,
            Request::ExportPath(_) => Op::ExportPath,
            Request::QueryDeriver(_) => Op::QueryDeriver,
            Request::SetOptions(_) => Op::SetOptions,
            Request::CollectGarbage(_) => Op::CollectGarbage,
            Request::QuerySubstitutablePathInfo(_) => Op::QuerySubstitutablePathInfo,
            Request::QueryDerivationOutputs(_) => Op::QueryDerivationOutputs,
            Request::QueryAllValidPaths => Op::QueryAllValidPaths,
            Request::QueryPathInfo(_) => Op::QueryPathInfo,
            Request::ImportPaths => Op::ImportPaths,
            Request::QueryDerivationOutputNames(_) => Op::QueryDerivationOutputNames,
            Request::QueryPathFromHashPart(_) => Op::QueryPathFromHashPart,
            Request::QuerySubstitutablePathInfos(_) => Op::QuerySubstitutablePathInfos,
            Request::QueryValidPaths { .. } => Op::QueryValidPaths,
            Request::QuerySubstitutablePaths(_) => Op::QuerySubstitutablePaths,
            Request::QueryValidDerivers(_) => Op::QueryValidDerivers,
            Request::OptimiseStore => Op::OptimiseStore,
            Request::VerifyStore { .. } => Op::VerifyStore,
            Request::BuildDerivation { .. } => Op::BuildDerivation,
            Request::AddSignatures { .. } => Op::AddSignatures,
            Request::NarFromPath(_) => Op::NarFromPath,
            Request::AddToStoreNar { .. } => Op::AddToStoreNar,
            Request::QueryMissing(_) => Op::QueryMissing,
            Request::QueryDerivationOutputMap(_) => Op::QueryDerivationOutputMap,
            Request::RegisterDrvOutput(_) => Op::RegisterDrvOutput,
            Request::QueryRealisation(_) => Op::QueryRealisation,
            Request::AddMultipleToStore { .. } => Op::AddMultipleToStore,
            Request::AddBuildLog(_) => Op::AddBuildLog,
            Request::BuildPathsWithResults { .. } => Op::BuildPathsWithResults,
        }
    }

    /// What follows the arguments, in protocol `ver`.
    pub fn payload(&self, ver: Version) -> Payload {
        match self {
            Request::AddToStore(AddToStore::Ca { .. }) => Payload::Framed,
            Request::AddToStore(AddToStore::Legacy { .. }) => Payload::Nar,
            Request::AddToStoreNar { .. } if ver.at_least(23) => Payload::Framed,
            Request::AddToStoreNar { .. } if ver.at_least(21) => Payload::OnRequest,
            Request::AddToStoreNar { .. } => Payload::Nar,
            Request::ImportPaths => Payload::OnRequest,
            Request::AddMultipleToStore { .. } | Request::AddBuildLog(_) => Payload::Framed,
            _ => Payload::None,
        }
    }

    /// Reads a request: the operation code, then its arguments as a client of version
    /// `ver` sends them. The payload, if any, is left in `r`.
    pub fn read<R: Read + ?Sized>(r: &mut R, ver: Version, dir: &StoreDir) -> Result<Request> {
        let op = Op::from_code(read_u64(r)?)?;
        Request::read_args(r, op, ver, dir)
    }

    /// Reads the arguments of `op`, its code already read.
    pub fn read_args<R: Read + ?Sized>(
        r: &mut R,
        op: Op,
        ver: Version,
        dir: &StoreDir,
    ) -> Result<Request> {
        let path = |r: &mut R| read_path(r, dir);
        Ok(match op {
            Op::IsValidPath => Request::IsValidPath(path(r)?),
            Op::HasSubstitutes => Request::HasSubstitutes(path(r)?),
            Op::QueryPathHash => Request::QueryPathHash(path(r)?),
            Op::QueryReferences => Request::QueryReferences(path(r)?),
            Op::QueryReferrers => Request::QueryReferrers(path(r)?),
            Op::AddToStore if ver.at_least(25) => Request::AddToStore(AddToStore::Ca {
                name: read_string(r, "name")?,
                method: CaMethod::parse(&read_string(r, "content address method")?)?,
                references: read_path_set(r, dir)?,
                repair: read_bool(r)?,
            }),
            Op::AddToStore => {
                let name = read_string(r, "name")?;
                let fixed = read_bool(r)?;
                let recursive = match read_u64(r)? {
                    0 => false,
                    1 => true,
                    n => {
                        return Err(WireError::UnknownValue {
                            what: "file ingestion method",
                            value: n,
                        })
                    }
                };
                let hash_algo = read_string(r, "hash algorithm")?;
                Request::AddToStore(AddToStore::Legacy {
                    name,
                    fixed,
                    recursive,
                    hash_algo,
                })
            }
            Op::AddTextToStore => Request::AddTextToStore {
                name: read_string(r, "name")?,
                text: read_bytes(r)?,
                references: read_path_set(r, dir)?,
            },
            Op::BuildPaths => Request::BuildPaths {
                paths: read_derived_paths(r, dir, ver)?,
                mode: if ver.at_least(15) {
                    BuildMode::read(r)?
                } else {
                    BuildMode::Normal
                },
            },
            Op::EnsurePath => Request::EnsurePath(path(r)?),
            Op::AddTempRoot => Request::AddTempRoot(path(r)?),
            Op::AddIndirectRoot => Request::AddIndirectRoot(read_bytes(r)?),
            Op::SyncWithGC => Request::SyncWithGC,
            Op::FindRoots => Request::FindRoots,
            Op::ExportPath => {
                let p = path(r)?;
                read_u32(r, "sign flag")?;
                Request::ExportPath(p)
            }
            Op::QueryDeriver => Request::QueryDeriver(path(r)?),
            Op::SetOptions => Request::SetOptions(ClientSettings::read(r, ver)?),
            Op::CollectGarbage => {
                let action = GcAction::read(r)?;
                let paths_to_delete = read_path_set(r, dir)?;
                let ignore_liveness = read_bool(r)?;
                let max_freed = read_u64(r)?;
                for _ in 0..3 {
                    read_u32(r, "obsolete garbage collector option")?;
                }
                Request::CollectGarbage(GcOptions {
                    action,
                    paths_to_delete,
                    ignore_liveness,
                    max_freed,
                })
            }
            Op::QuerySubstitutablePathInfo => Request::QuerySubstitutablePathInfo(path(r)?),
            Op::QueryDerivationOutputs => Request::QueryDerivationOutputs(path(r)?),
            Op::QueryAllValidPaths => Request::QueryAllValidPaths,
            Op::QueryPathInfo => Request::QueryPathInfo(path(r)?),
            Op::ImportPaths => Request::ImportPaths,
            Op::QueryDerivationOutputNames => Request::QueryDerivationOutputNames(path(r)?),
            Op::QueryPathFromHashPart => {
                Request::QueryPathFromHashPart(read_string(r, "hash part")?)
            }
            Op::QuerySubstitutablePathInfos => {
                let mut m = BTreeMap::new();
                if ver.at_least(22) {
                    for _ in 0..read_count(r)? {
                        let p = path(r)?;
                        let ca = crate::path_info::read_ca(r)?;
                        m.insert(p, ca);
                    }
                } else {
                    for p in read_path_set(r, dir)? {
                        m.insert(p, None);
                    }
                }
                Request::QuerySubstitutablePathInfos(m)
            }
            Op::QueryValidPaths => Request::QueryValidPaths {
                paths: read_path_set(r, dir)?,
                substitute: ver.at_least(27) && read_bool(r)?,
            },
            Op::QuerySubstitutablePaths => Request::QuerySubstitutablePaths(read_path_set(r, dir)?),
            Op::QueryValidDerivers => Request::QueryValidDerivers(path(r)?),
            Op::OptimiseStore => Request::OptimiseStore,
            Op::VerifyStore => Request::VerifyStore {
                check_contents: read_bool(r)?,
                repair: read_bool(r)?,
            },
            Op::BuildDerivation => Request::BuildDerivation {
                drv_path: path(r)?,
                drv: Box::new(BasicDerivation::read(r, dir)?),
                mode: BuildMode::read(r)?,
            },
            Op::AddSignatures => Request::AddSignatures {
                path: path(r)?,
                sigs: read_string_set(r, "signature")?,
            },
            Op::NarFromPath => Request::NarFromPath(path(r)?),
            Op::AddToStoreNar => {
                let info = read_path_info(r, dir, Version::CURRENT, None)?;
                Request::AddToStoreNar {
                    info: Box::new(info),
                    repair: read_bool(r)?,
                    dont_check_sigs: read_bool(r)?,
                }
            }
            Op::QueryMissing => Request::QueryMissing(read_derived_paths(r, dir, ver)?),
            Op::QueryDerivationOutputMap => Request::QueryDerivationOutputMap(path(r)?),
            Op::RegisterDrvOutput if ver.at_least(31) => Request::RegisterDrvOutput(
                RegisterDrvOutput::Realisation(read_string(r, "realisation")?),
            ),
            Op::RegisterDrvOutput => Request::RegisterDrvOutput(RegisterDrvOutput::Legacy {
                id: read_string(r, "derivation output id")?,
                out_path: read_base_name(r)?,
            }),
            Op::QueryRealisation => {
                Request::QueryRealisation(read_string(r, "derivation output id")?)
            }
            Op::AddMultipleToStore => Request::AddMultipleToStore {
                repair: read_bool(r)?,
                dont_check_sigs: read_bool(r)?,
            },
            Op::AddBuildLog => Request::AddBuildLog(read_base_name(r)?),
            Op::BuildPathsWithResults => Request::BuildPathsWithResults {
                paths: read_derived_paths(r, dir, ver)?,
                mode: BuildMode::read(r)?,
            },
            Op::QueryFailedPaths | Op::ClearFailedPaths => return Err(WireError::UnservedOp(op)),
        })
    }

    /// Writes the request as a client of version `ver` sends it: the operation code and
    /// the arguments (not the payload). Arguments the version cannot carry are refused
    /// with [`WireError::NotInVersion`]; fields it leaves out must have their default
    /// (no substitution, normal build mode, no content addresses) or are dropped.
    pub fn write<W: Write + ?Sized>(&self, w: &mut W, ver: Version, dir: &StoreDir) -> Result<()> {
        write_u64(w, self.op().code())?;
        match self {
            Request::IsValidPath(p)
            | Request::HasSubstitutes(p)
            | Request::QueryPathHash(p)
            | Request::QueryReferences(p)
            | Request::QueryReferrers(p)
            | Request::EnsurePath(p)
            | Request::AddTempRoot(p)
            | Request::QueryDeriver(p)
            | Request::QuerySubstitutablePathInfo(p)
            | Request::QueryDerivationOutputs(p)
            | Request::QueryPathInfo(p)
            | Request::QueryDerivationOutputNames(p)
            | Request::QueryValidDerivers(p)
            | Request::NarFromPath(p)
            | Request::QueryDerivationOutputMap(p) => write_path(w, dir, p),
            Request::AddToStore(AddToStore::Ca {
                name,
                method,
                references,
                repair,
            }) => {
                if !ver.at_least(25) {
                    return Err(too_new("AddToStore with a content-address method", ver));
                }
                write_string(w, name)?;
                write_string(w, &method.to_string())?;
                write_paths(w, dir, references)?;
                write_bool(w, *repair)
            }
            Request::AddToStore(AddToStore::Legacy {
                name,
                fixed,
                recursive,
                hash_algo,
            }) => {
                if ver.at_least(25) {
                    return Err(too_new("the pre-1.25 AddToStore", ver));
                }
                write_string(w, name)?;
                write_bool(w, *fixed)?;
                write_bool(w, *recursive)?;
                write_string(w, hash_algo)
            }
            Request::AddTextToStore {
                name,
                text,
                references,
            } => {
                write_string(w, name)?;
                write_bytes(w, text)?;
                write_paths(w, dir, references)
            }
            Request::BuildPaths { paths, mode } => {
                write_derived_paths(w, dir, ver, paths)?;
                if ver.at_least(15) {
                    mode.write(w)
                } else if *mode != BuildMode::Normal {
                    Err(too_new("a build mode other than normal", ver))
                } else {
                    Ok(())
                }
            }
            Request::AddIndirectRoot(p) => write_bytes(w, p),
            Request::SyncWithGC
            | Request::FindRoots
            | Request::QueryAllValidPaths
            | Request::ImportPaths
            | Request::OptimiseStore => Ok(()),
            Request::ExportPath(p) => {
                write_path(w, dir, p)?;
                write_u64(w, 0)
            }
            Request::SetOptions(s) => s.write(w, ver),
            Request::CollectGarbage(o) => {
                o.action.write(w)?;
                write_paths(w, dir, &o.paths_to_delete)?;
                write_bool(w, o.ignore_liveness)?;
                write_u64(w, o.max_freed)?;
                for _ in 0..3 {
                    write_u64(w, 0)?;
                }
                Ok(())
            }
            Request::QueryPathFromHashPart(h) => write_string(w, h),
            Request::QuerySubstitutablePathInfos(m) => {
                write_u64(w, m.len() as u64)?;
                for (p, ca) in m {
                    write_path(w, dir, p)?;
                    if ver.at_least(22) {
                        write_string(w, ca.as_deref().unwrap_or(""))?;
                    }
                }
                Ok(())
            }
            Request::QueryValidPaths { paths, substitute } => {
                write_paths(w, dir, paths)?;
                if ver.at_least(27) {
                    write_bool(w, *substitute)?;
                }
                Ok(())
            }
            Request::QuerySubstitutablePaths(paths) => write_paths(w, dir, paths),
            Request::VerifyStore {
                check_contents,
                repair,
            } => {
                write_bool(w, *check_contents)?;
                write_bool(w, *repair)
            }
            Request::BuildDerivation {
                drv_path,
                drv,
                mode,
            } => {
                write_path(w, dir, drv_path)?;
                drv.write(w, dir)?;
                mode.write(w)
            }
            Request::AddSignatures { path, sigs } => {
                write_path(w, dir, path)?;
                write_string_list(w, sigs)
            }
            Request::AddToStoreNar {
                info,
                repair,
                dont_check_sigs,
            } => {
                write_path_info(w, dir, info, Version::CURRENT, true)?;
                write_bool(w, *repair)?;
                write_bool(w, *dont_check_sigs)
            }
            Request::QueryMissing(paths) => write_derived_paths(w, dir, ver, paths),
            Request::RegisterDrvOutput(RegisterDrvOutput::Realisation(json)) => {
                if !ver.at_least(31) {
                    return Err(too_new("a realisation", ver));
                }
                write_string(w, json)
            }
            Request::RegisterDrvOutput(RegisterDrvOutput::Legacy { id, out_path }) => {
                if ver.at_least(31) {
                    return Err(too_new("the pre-1.31 RegisterDrvOutput", ver));
                }
                write_string(w, id)?;
                write_string(w, out_path.base_name())
            }
            Request::QueryRealisation(id) => write_string(w, id),
            Request::AddMultipleToStore {
                repair,
                dont_check_sigs,
            } => {
                write_bool(w, *repair)?;
                write_bool(w, *dont_check_sigs)
            }
            Request::AddBuildLog(p) => write_string(w, p.base_name()),
            Request::BuildPathsWithResults { paths, mode } => {
                write_derived_paths(w, dir, ver, paths)?;
                mode.write(w)
            }
        }
    }
}
