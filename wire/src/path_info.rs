//! A valid path's metadata on the wire (Nix's `ValidPathInfo`), and what a substituter
//! knows of a path.
//!
//! A path info is, in order: the path (when included), the deriver or the empty string,
//! the NAR hash as bare base 16, the references, the registration time, the NAR size, and
//! from format 16 on whether it is ultimately trusted, its signatures and its content
//! address or the empty string.

use crate::codec::{
    read_bool, read_opt_path, read_path, read_path_set, read_string, read_string_set, read_time,
    read_u64, write_bool, write_opt_path, write_path, write_paths, write_string, write_string_list,
    write_time, write_u64,
};
use crate::error::Result;
use crate::Version;
use ferrix_store::hash::{Hash, HashAlgo};
use ferrix_store::path::{StoreDir, StorePath};
use ferrix_store::PathInfo;
use std::collections::BTreeSet;
use std::io::{Read, Write};

/// Writes `info` in the path info format of protocol `ver` (its minor version is the
/// format). `include_path` puts the path in front, as everywhere but the `QueryPathInfo`
/// reply. Signatures go out sorted and without repeats, as the set Nix keeps them in.
pub fn write_path_info<W: Write + ?Sized>(
    w: &mut W,
    dir: &StoreDir,
    info: &PathInfo,
    ver: Version,
    include_path: bool,
) -> Result<()> {
    if include_path {
        write_path(w, dir, &info.path)?;
    }
    write_opt_path(w, dir, info.deriver.as_ref())?;
    write_string(w, &info.nar_hash.to_base16())?;
    write_paths(w, dir, &info.references)?;
    write_time(w, info.registration_time)?;
    write_u64(w, info.nar_size)?;
    if ver.at_least(16) {
        write_bool(w, info.ultimate)?;
        let sigs: BTreeSet<&str> = info.sigs.iter().map(String::as_str).collect();
        write_string_list(w, sigs)?;
        write_string(w, info.ca.as_deref().unwrap_or(""))?;
    }
    Ok(())
}

/// Reads a path info in the format of protocol `ver`. When `path` is given the path is not
/// on the wire (the `QueryPathInfo` reply); otherwise it is read first. The NAR hash may be
/// in any of Nix's forms but must be SHA-256.
pub fn read_path_info<R: Read + ?Sized>(
    r: &mut R,
    dir: &StoreDir,
    ver: Version,
    path: Option<StorePath>,
) -> Result<PathInfo> {
    let path = match path {
        Some(p) => p,
        None => read_path(r, dir)?,
    };
    let deriver = read_opt_path(r, dir)?;
    let nar_hash = read_nar_hash(r)?;
    let references = read_path_set(r, dir)?;
    let registration_time = read_time(r)?;
    let nar_size = read_u64(r)?;
    let (mut ultimate, mut sigs, mut ca) = (false, Vec::new(), None);
    if ver.at_least(16) {
        ultimate = read_bool(r)?;
        sigs = read_string_set(r, "signature")?.into_iter().collect();
        ca = read_ca(r)?;
    }
    Ok(PathInfo {
        path,
        nar_hash,
        nar_size,
        registration_time,
        deriver,
        references,
        ultimate,
        sigs,
        ca,
    })
}

/// A NAR hash: SHA-256, in any encoding, with or without `sha256:` in front.
pub fn read_nar_hash<R: Read + ?Sized>(r: &mut R) -> Result<Hash> {
    let s = read_string(r, "NAR hash")?;
    Ok(Hash::parse_any(&s, Some(HashAlgo::Sha256))?)
}

/// A content address or nothing (the empty string).
pub fn read_ca<R: Read + ?Sized>(r: &mut R) -> Result<Option<String>> {
    let s = read_string(r, "content address")?;
    Ok(if s.is_empty() { None } else { Some(s) })
}

/// What a substituter knows of a path (`QuerySubstitutablePathInfo(s)` replies).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubstitutablePathInfo {
    pub deriver: Option<StorePath>,
    pub references: BTreeSet<StorePath>,
    /// Size of the compressed download.
    pub download_size: u64,
    pub nar_size: u64,
}

impl SubstitutablePathInfo {
    /// Reads the fields after the path: deriver, references, download size, NAR size.
    pub fn read<R: Read + ?Sized>(r: &mut R, dir: &StoreDir) -> Result<Self> {
        Ok(SubstitutablePathInfo {
            deriver: read_opt_path(r, dir)?,
            references: read_path_set(r, dir)?,
            download_size: read_u64(r)?,
            nar_size: read_u64(r)?,
        })
    }

    pub fn write<W: Write + ?Sized>(&self, w: &mut W, dir: &StoreDir) -> Result<()> {
        write_opt_path(w, dir, self.deriver.as_ref())?;
        write_paths(w, dir, &self.references)?;
        write_u64(w, self.download_size)?;
        write_u64(w, self.nar_size)
    }
}

/// The path info format inside `AddMultipleToStore`'s framed stream.
pub const MULTIPLE_FORMAT: Version = Version::new(1, 16);

/// Writes one entry of `AddMultipleToStore`'s stream (into the framed writer): the path's
/// info in format 16, with its path, then its NAR, copied from `nar` and checked.
/// The stream itself starts with the number of entries ([`crate::codec::write_u64`]).
pub fn write_multiple_entry<W, R>(
    w: &mut W,
    dir: &StoreDir,
    info: &PathInfo,
    nar: &mut R,
) -> Result<()>
where
    W: Write + ?Sized,
    R: Read + ?Sized,
{
    write_path_info(w, dir, info, MULTIPLE_FORMAT, true)?;
    crate::copy_nar(nar, w)?;
    Ok(())
}

/// Reads the info of one entry of `AddMultipleToStore`'s stream (from the framed reader);
/// its NAR follows, to be taken with [`crate::copy_nar`]. Nix clears `ultimate` on what it
/// receives this way; that is the server's business.
pub fn read_multiple_entry_info<R: Read + ?Sized>(r: &mut R, dir: &StoreDir) -> Result<PathInfo> {
    read_path_info(r, dir, MULTIPLE_FORMAT, None)
}
