//! Replies: what the server sends after `STDERR_LAST`. Their shape depends on the request
//! and the protocol version, so they are read knowing the request.

use crate::codec::{
    read_bool, read_bytes, read_count, read_opt_path, read_path, read_path_list, read_path_set,
    read_string, read_string_set, read_u64, write_bool, write_bytes, write_bytes_list,
    write_opt_path, write_path, write_paths, write_string, write_string_list, write_u64,
};
use crate::derived::{BuildResult, KeyedBuildResult};
use crate::error::{Result, WireError};
use crate::op::Op;
use crate::path_info::{read_path_info, write_path_info, SubstitutablePathInfo};
use crate::request::{AddToStore, Request};
use crate::Version;
use ferrix_store::path::{StoreDir, StorePath};
use ferrix_store::PathInfo;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};

/// `QueryMissing`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MissingInfo {
    pub will_build: BTreeSet<StorePath>,
    pub will_substitute: BTreeSet<StorePath>,
    pub unknown: BTreeSet<StorePath>,
    pub download_size: u64,
    pub nar_size: u64,
}

/// `CollectGarbage`'s answer (an obsolete 0 word follows it on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GcResult {
    /// The paths deleted (or, for the `Return*` actions, found), as file names.
    pub paths: BTreeSet<Vec<u8>>,
    pub bytes_freed: u64,
}

/// A reply, by shape. [`Reply::read`] picks the shape from the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Nothing at all: `SetOptions`, `AddToStoreNar`, `AddMultipleToStore`,
    /// `RegisterDrvOutput`, and `NarFromPath`, whose NAR follows inline.
    Nothing,
    /// The word 1: `BuildPaths`, `EnsurePath`, `AddTempRoot`, `AddIndirectRoot`,
    /// `SyncWithGC`, `OptimiseStore`, `AddSignatures`, `ExportPath`, `AddBuildLog`.
    Ack,
    /// `IsValidPath`, `HasSubstitutes`, `VerifyStore` (whether errors remain).
    Bool(bool),
    /// `AddTextToStore`, and `AddToStore` before 1.25.
    Path(StorePath),
    /// `QueryDeriver`, `QueryPathFromHashPart`.
    OptPath(Option<StorePath>),
    /// `QueryValidPaths`, `QuerySubstitutablePaths`, `QueryReferences`, `QueryReferrers`,
    /// `QueryValidDerivers`, `QueryDerivationOutputs`, `QueryAllValidPaths`, and
    /// `QueryRealisation` before 1.31 (at most one path).
    PathSet(BTreeSet<StorePath>),
    /// `ImportPaths`: the paths imported, in order.
    PathList(Vec<StorePath>),
    /// `QueryDerivationOutputNames`.
    StringSet(BTreeSet<String>),
    /// `QueryPathHash`: the NAR hash in bare base 16.
    Text(String),
    /// `QueryPathInfo`: from 1.17 a validity flag and the info without its path; before,
    /// the info only (an invalid path is then an error instead).
    PathInfo(Option<Box<PathInfo>>),
    /// `AddToStore` from 1.25: the info with its path.
    ValidPathInfo(Box<PathInfo>),
    /// `QuerySubstitutablePathInfo`: 0, or 1 and the info.
    SubstitutablePathInfo(Option<SubstitutablePathInfo>),
    /// `QuerySubstitutablePathInfos`: a count, then path and info for each.
    SubstitutablePathInfos(BTreeMap<StorePath, SubstitutablePathInfo>),
    /// `QueryMissing`.
    Missing(MissingInfo),
    /// `FindRoots`: a count, then (link, target) for each root.
    Roots(Vec<(Vec<u8>, StorePath)>),
    /// `CollectGarbage`.
    Gc(GcResult),
    /// `BuildDerivation`, in the form of the version.
    BuildResult(BuildResult),
    /// `BuildPathsWithResults`.
    BuildResults(Vec<KeyedBuildResult>),
    /// `QueryDerivationOutputMap`: output name to its path, if known.
    OutputMap(BTreeMap<String, Option<StorePath>>),
    /// `QueryRealisation` from 1.31: at most one realisation, as Nix's JSON text.
    Realisations(BTreeSet<String>),
}

impl Reply {
    /// Reads the reply to `req` in protocol `ver`.
    pub fn read<R: Read + ?Sized>(
        r: &mut R,
        req: &Request,
        ver: Version,
        dir: &StoreDir,
    ) -> Result<Reply> {
        Ok(match req.op() {
            Op::SetOptions
            | Op::AddToStoreNar
            | Op::AddMultipleToStore
            | Op::RegisterDrvOutput
            | Op::NarFromPath => Reply::Nothing,
            Op::BuildPaths
            | Op::EnsurePath
            | Op::AddTempRoot
            | Op::AddIndirectRoot
            | Op::SyncWithGC
            | Op::OptimiseStore
            | Op::AddSignatures
            | Op::ExportPath
            | Op::AddBuildLog => {
                read_u64(r)?;
                Reply::Ack
            }
            Op::IsValidPath | Op::HasSubstitutes | Op::VerifyStore => Reply::Bool(read_bool(r)?),
            Op::AddTextToStore => Reply::Path(read_path(r, dir)?),
            Op::AddToStore => match req {
                Request::AddToStore(AddToStore::Ca { .. }) => {
                    Reply::ValidPathInfo(Box::new(read_path_info(r, dir, ver, None)?))
                }
                _ => Reply::Path(read_path(r, dir)?),
            },
            Op::QueryDeriver | Op::QueryPathFromHashPart => Reply::OptPath(read_opt_path(r, dir)?),
            Op::QueryValidPaths
            | Op::QuerySubstitutablePaths
            | Op::QueryReferences
            | Op::QueryReferrers
            | Op::QueryValidDerivers
            | Op::QueryDerivationOutputs
            | Op::QueryAllValidPaths => Reply::PathSet(read_path_set(r, dir)?),
            Op::QueryRealisation if ver.at_least(31) => {
                Reply::Realisations(read_string_set(r, "realisation")?)
            }
            Op::QueryRealisation => Reply::PathSet(read_path_set(r, dir)?),
            Op::ImportPaths => Reply::PathList(read_path_list(r, dir)?),
            Op::QueryDerivationOutputNames => Reply::StringSet(read_string_set(r, "output name")?),
            Op::QueryPathHash => Reply::Text(read_string(r, "NAR hash")?),
            Op::QueryPathInfo => {
                let Request::QueryPathInfo(path) = req else {
                    return Err(WireError::UnservedOp(Op::QueryPathInfo));
                };
                if ver.at_least(17) && !read_bool(r)? {
                    Reply::PathInfo(None)
                } else {
                    let info = read_path_info(r, dir, ver, Some(path.clone()))?;
                    Reply::PathInfo(Some(Box::new(info)))
                }
            }
            Op::QuerySubstitutablePathInfo => Reply::SubstitutablePathInfo(if read_bool(r)? {
                Some(SubstitutablePathInfo::read(r, dir)?)
            } else {
                None
            }),
            Op::QuerySubstitutablePathInfos => {
                let mut m = BTreeMap::new();
                for _ in 0..read_count(r)? {
                    let p = read_path(r, dir)?;
                    m.insert(p, SubstitutablePathInfo::read(r, dir)?);
                }
                Reply::SubstitutablePathInfos(m)
            }
            Op::QueryMissing => Reply::Missing(MissingInfo {
                will_build: read_path_set(r, dir)?,
                will_substitute: read_path_set(r, dir)?,
                unknown: read_path_set(r, dir)?,
                download_size: read_u64(r)?,
                nar_size: read_u64(r)?,
            }),
            Op::FindRoots => {
                let mut v = Vec::new();
                for _ in 0..read_count(r)? {
                    let link = read_bytes(r)?;
                    v.push((link, read_path(r, dir)?));
                }
                Reply::Roots(v)
            }
            Op::CollectGarbage => {
                let mut paths = BTreeSet::new();
                for _ in 0..read_count(r)? {
                    paths.insert(read_bytes(r)?);
                }
                let bytes_freed = read_u64(r)?;
                read_u64(r)?;
                Reply::Gc(GcResult { paths, bytes_freed })
            }
            Op::BuildDerivation => Reply::BuildResult(BuildResult::read(r, ver)?),
            Op::BuildPathsWithResults => {
                let mut v = Vec::new();
                for _ in 0..read_count(r)? {
                    v.push(KeyedBuildResult::read(r, dir)?);
                }
                Reply::BuildResults(v)
            }
            Op::QueryDerivationOutputMap => {
                let mut m = BTreeMap::new();
                for _ in 0..read_count(r)? {
                    let name = read_string(r, "output name")?;
                    m.insert(name, read_opt_path(r, dir)?);
                }
                Reply::OutputMap(m)
            }
            op @ (Op::QueryFailedPaths | Op::ClearFailedPaths) => {
                return Err(WireError::UnservedOp(op))
            }
        })
    }

    /// Writes the reply in protocol `ver`.
    pub fn write<W: Write + ?Sized>(&self, w: &mut W, ver: Version, dir: &StoreDir) -> Result<()> {
        match self {
            Reply::Nothing => Ok(()),
            Reply::Ack => write_u64(w, 1),
            Reply::Bool(b) => write_bool(w, *b),
            Reply::Path(p) => write_path(w, dir, p),
            Reply::OptPath(p) => write_opt_path(w, dir, p.as_ref()),
            Reply::PathSet(s) => write_paths(w, dir, s),
            Reply::PathList(v) => write_paths(w, dir, v),
            Reply::StringSet(s) => write_string_list(w, s),
            Reply::Text(s) => write_string(w, s),
            Reply::PathInfo(None) => {
                if !ver.at_least(17) {
                    return Err(WireError::NotInVersion {
                        what: "an invalid path's info (send an error instead)",
                        version: ver,
                    });
                }
                write_bool(w, false)
            }
            Reply::PathInfo(Some(info)) => {
                if ver.at_least(17) {
                    write_bool(w, true)?;
                }
                write_path_info(w, dir, info, ver, false)
            }
            Reply::ValidPathInfo(info) => write_path_info(w, dir, info, ver, true),
            Reply::SubstitutablePathInfo(None) => write_bool(w, false),
            Reply::SubstitutablePathInfo(Some(info)) => {
                write_bool(w, true)?;
                info.write(w, dir)
            }
            Reply::SubstitutablePathInfos(m) => {
                write_u64(w, m.len() as u64)?;
                for (p, info) in m {
                    write_path(w, dir, p)?;
                    info.write(w, dir)?;
                }
                Ok(())
            }
            Reply::Missing(m) => {
                write_paths(w, dir, &m.will_build)?;
                write_paths(w, dir, &m.will_substitute)?;
                write_paths(w, dir, &m.unknown)?;
                write_u64(w, m.download_size)?;
                write_u64(w, m.nar_size)
            }
            Reply::Roots(v) => {
                write_u64(w, v.len() as u64)?;
                for (link, target) in v {
                    write_bytes(w, link)?;
                    write_path(w, dir, target)?;
                }
                Ok(())
            }
            Reply::Gc(g) => {
                write_bytes_list(w, &g.paths)?;
                write_u64(w, g.bytes_freed)?;
                write_u64(w, 0)
            }
            Reply::BuildResult(b) => b.write(w, ver),
            Reply::BuildResults(v) => {
                write_u64(w, v.len() as u64)?;
                for b in v {
                    b.write(w, dir)?;
                }
                Ok(())
            }
            Reply::OutputMap(m) => {
                write_u64(w, m.len() as u64)?;
                for (name, p) in m {
                    write_string(w, name)?;
                    write_opt_path(w, dir, p.as_ref())?;
                }
                Ok(())
            }
            Reply::Realisations(s) => write_string_list(w, s),
        }
    }
}
