//! The `nix-store --serve` protocol, version 2.7, as Nix 2.8 speaks it over an SSH pipe.
//!
//! It has no log channel and no framing: the client sends a command word and its
//! arguments, and the server answers with plain values (or a NAR, or an export stream).
//! A server that fails simply exits, and the client sees the end of the stream.
//!
//! # A session
//!
//! 1. The client sends [`SERVE_MAGIC_1`] and its version; the server answers with
//!    [`SERVE_MAGIC_2`] and its own version ([`server_handshake`], [`client_handshake`]).
//!    Each side then reads the other's version and tests its minor number.
//! 2. Commands ([`ServeRequest`]) follow until the client closes its end. Some carry a
//!    payload after their arguments: `ImportPaths` an export stream, `AddToStoreNar` a NAR of
//!    exactly `narSize` bytes. The build commands end with the [`ServeBuildSettings`].
//! 3. Replies: a path set (`QueryValidPaths`, `QueryClosure`), [`ServePathInfo`] entries
//!    ended by an empty string (`QueryPathInfos`), a NAR (`DumpStorePath`), an export stream
//!    (`ExportPaths`), the word 1 (`ImportPaths`, `AddToStoreNar`), a status word and maybe a
//!    message (`BuildPaths`, [`BuildPathsReply`]), or a build result (`BuildDerivation`,
//!    [`read_build_result`]).

use crate::codec::{
    read_count, read_opt_path, read_path, read_path_set, read_string, read_string_list,
    read_string_set, read_time, read_u32, read_u64, write_bool, write_opt_path, write_path,
    write_paths, write_string, write_string_list, write_time, write_u64,
};
use crate::derivation::BasicDerivation;
use crate::derived::{
    read_built_outputs, write_built_outputs, BuildResult, BuildStatus, DerivedPath,
};
use crate::error::{Result, WireError};
use crate::path_info::{read_ca, read_nar_hash};
use crate::Version;
use ferrix_store::hash::{Encoding, Hash};
use ferrix_store::path::{StoreDir, StorePath};
use ferrix_store::PathInfo;
use std::collections::BTreeSet;
use std::io::{Read, Write};

/// The client's greeting.
pub const SERVE_MAGIC_1: u64 = 0x390c_9deb;
/// The server's answer.
pub const SERVE_MAGIC_2: u64 = 0x5452_eecb;
/// The version Nix 2.8 and this module speak: 2.7.
pub const SERVE_VERSION: Version = Version::new(2, 7);

/// Reads a greeting word as Nix's `readInt` does (an `unsigned int`).
fn read_word<R: Read + ?Sized>(r: &mut R, what: &'static str) -> Result<u64> {
    Ok(u64::from(read_u32(r, what)?))
}

/// The server's side of the greeting: the client's magic, then ours and our version, then
/// the client's version, which is returned. Nix's server accepts any client version.
pub fn server_handshake<R, W>(r: &mut R, w: &mut W) -> Result<Version>
where
    R: Read + ?Sized,
    W: Write + ?Sized,
{
    let magic = read_word(r, "magic")?;
    if magic != SERVE_MAGIC_1 {
        return Err(WireError::BadMagic {
            expected: SERVE_MAGIC_1,
            got: magic,
        });
    }
    write_u64(w, SERVE_MAGIC_2)?;
    write_u64(w, u64::from(SERVE_VERSION.0))?;
    w.flush()?;
    Ok(Version(read_u32(r, "client version")?))
}

/// The client's side of the greeting: our magic and version, then the server's magic and
/// version, which must have major version 2. Returns the server's version.
pub fn client_handshake<R, W>(r: &mut R, w: &mut W) -> Result<Version>
where
    R: Read + ?Sized,
    W: Write + ?Sized,
{
    write_u64(w, SERVE_MAGIC_1)?;
    write_u64(w, u64::from(SERVE_VERSION.0))?;
    w.flush()?;
    let magic = read_u64(r)?;
    if magic != SERVE_MAGIC_2 {
        return Err(WireError::BadMagic {
            expected: SERVE_MAGIC_2,
            got: magic,
        });
    }
    let v = Version(read_u32(r, "server version")?);
    if v.major() != 2 {
        return Err(WireError::UnsupportedServeMajor(v));
    }
    Ok(v)
}

crate::derived::code_enum! {
    /// The command words of the serve protocol.
    ServeCommand, "serve command" {
        QueryValidPaths = 1,
        QueryPathInfos = 2,
        DumpStorePath = 3,
        ImportPaths = 4,
        ExportPaths = 5,
        BuildPaths = 6,
        QueryClosure = 7,
        BuildDerivation = 8,
        AddToStoreNar = 9,
    }
}

/// The settings a client sends with each build command. Which fields are on the wire
/// depends on the minor version of the client: the limits of silence and time always,
/// the log size from 2, repeat and determinism from 3, keep-failed from 7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServeBuildSettings {
    /// Seconds; 0 is no limit.
    pub max_silent_time: u32,
    /// Seconds; 0 is no limit.
    pub build_timeout: u32,
    /// Bytes; 0 is no limit.
    pub max_log_size: u64,
    pub build_repeat: u32,
    pub enforce_determinism: bool,
    pub keep_failed: bool,
}

impl ServeBuildSettings {
    pub fn read<R: Read + ?Sized>(r: &mut R, ver: Version) -> Result<Self> {
        let mut s = ServeBuildSettings {
            max_silent_time: read_u32(r, "max-silent-time")?,
            build_timeout: read_u32(r, "timeout")?,
            ..Default::default()
        };
        if ver.at_least(2) {
            s.max_log_size = read_u64(r)?;
        }
        if ver.at_least(3) {
            s.build_repeat = read_u32(r, "repeat")?;
            s.enforce_determinism = read_u32(r, "enforce-determinism")? != 0;
        }
        if ver.at_least(7) {
            s.keep_failed = read_u32(r, "keep-failed")? != 0;
        }
        Ok(s)
    }

    pub fn write<W: Write + ?Sized>(&self, w: &mut W, ver: Version) -> Result<()> {
        write_u64(w, u64::from(self.max_silent_time))?;
        write_u64(w, u64::from(self.build_timeout))?;
        if ver.at_least(2) {
            write_u64(w, self.max_log_size)?;
        }
        if ver.at_least(3) {
            write_u64(w, u64::from(self.build_repeat))?;
            write_bool(w, self.enforce_determinism)?;
        }
        if ver.at_least(7) {
            write_bool(w, self.keep_failed)?;
        }
        Ok(())
    }
}

/// A command and its arguments. The payloads that follow some of them are not part of
/// the value: see [`ServeRequest::read_args`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServeRequest {
    /// Which of `paths` are valid. With `lock`, the server keeps them from its garbage
    /// collector for the session; with `substitute`, it first tries to substitute them.
    QueryValidPaths {
        lock: bool,
        substitute: bool,
        paths: BTreeSet<StorePath>,
    },
    /// The metadata of the valid ones of these paths.
    QueryPathInfos(BTreeSet<StorePath>),
    /// The NAR of a path. The path is read as Nix's `parseStorePath` reads it.
    DumpStorePath(StorePath),
    /// An export stream follows (as `nix-store --export` writes it).
    ImportPaths,
    /// The paths to export; an obsolete word comes first.
    ExportPaths(BTreeSet<StorePath>),
    BuildPaths {
        paths: Vec<DerivedPath>,
        settings: ServeBuildSettings,
    },
    /// The closure of `paths`, with the outputs of derivations when `include_outputs`.
    QueryClosure {
        include_outputs: bool,
        paths: BTreeSet<StorePath>,
    },
    BuildDerivation {
        drv_path: StorePath,
        drv: BasicDerivation,
        settings: ServeBuildSettings,
    },
    /// A path and its metadata; its NAR of `info.nar_size` bytes follows.
    AddToStoreNar(Box<PathInfo>),
}

impl ServeRequest {
    /// The command word.
    pub fn command(&self) -> ServeCommand {
        match self {
            ServeRequest::QueryValidPaths { .. } => ServeCommand::QueryValidPaths,
            ServeRequest::QueryPathInfos(_) => ServeCommand::QueryPathInfos,
            ServeRequest::DumpStorePath(_) => ServeCommand::DumpStorePath,
            ServeRequest::ImportPaths => ServeCommand::ImportPaths,
            ServeRequest::ExportPaths(_) => ServeCommand::ExportPaths,
            ServeRequest::BuildPaths { .. } => ServeCommand::BuildPaths,
            ServeRequest::QueryClosure { .. } => ServeCommand::QueryClosure,
            ServeRequest::BuildDerivation { .. } => ServeCommand::BuildDerivation,
            ServeRequest::AddToStoreNar(_) => ServeCommand::AddToStoreNar,
        }
    }

    /// Whether the command writes to the store (refused without `--write`).
    pub fn writes(&self) -> bool {
        matches!(
            self,
            ServeRequest::ImportPaths
                | ServeRequest::BuildPaths { .. }
                | ServeRequest::BuildDerivation { .. }
                | ServeRequest::AddToStoreNar(_)
        )
    }

    /// Reads the next command word, or `None` at the end of the stream (the client is done).
    pub fn read_command<R: Read + ?Sized>(r: &mut R) -> Result<Option<ServeCommand>> {
        let mut b = [0u8; 8];
        let mut got = 0;
        while got < 8 {
            match r.read(&mut b[got..]) {
                Ok(0) if got == 0 => return Ok(None),
                Ok(0) => return Err(WireError::Eof),
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        let n = u64::from_le_bytes(b);
        let n = u32::try_from(n).map_err(|_| WireError::IntegerTooLarge {
            what: "serve command",
            value: n,
        })?;
        ServeCommand::from_code(u64::from(n)).map(Some)
    }

    /// Reads the arguments of `cmd` from a client of version `ver` (the client's: Nix's
    /// server tests the version the client announced).
    pub fn read_args<R: Read + ?Sized>(
        r: &mut R,
        cmd: ServeCommand,
        ver: Version,
        dir: &StoreDir,
    ) -> Result<ServeRequest> {
        Ok(match cmd {
            ServeCommand::QueryValidPaths => {
                let lock = read_u32(r, "lock flag")? != 0;
                let substitute = read_u32(r, "substitute flag")? != 0;
                ServeRequest::QueryValidPaths {
                    lock,
                    substitute,
                    paths: read_path_set(r, dir)?,
                }
            }
            ServeCommand::QueryPathInfos => ServeRequest::QueryPathInfos(read_path_set(r, dir)?),
            ServeCommand::DumpStorePath => ServeRequest::DumpStorePath(read_path(r, dir)?),
            ServeCommand::ImportPaths => ServeRequest::ImportPaths,
            ServeCommand::ExportPaths => {
                read_u32(r, "obsolete word")?;
                ServeRequest::ExportPaths(read_path_set(r, dir)?)
            }
            ServeCommand::BuildPaths => {
                let mut paths = Vec::new();
                for s in read_string_list(r, "path with outputs")? {
                    paths.push(DerivedPath::parse_legacy(&s, dir)?);
                }
                ServeRequest::BuildPaths {
                    paths,
                    settings: ServeBuildSettings::read(r, ver)?,
                }
            }
            ServeCommand::QueryClosure => {
                let include_outputs = read_u32(r, "include-outputs flag")? != 0;
                ServeRequest::QueryClosure {
                    include_outputs,
                    paths: read_path_set(r, dir)?,
                }
            }
            ServeCommand::BuildDerivation => {
                let drv_path = read_path(r, dir)?;
                let drv = BasicDerivation::read(r, dir)?;
                ServeRequest::BuildDerivation {
                    drv_path,
                    drv,
                    settings: ServeBuildSettings::read(r, ver)?,
                }
            }
            ServeCommand::AddToStoreNar => {
                let path = read_path(r, dir)?;
                let deriver = read_opt_path(r, dir)?;
                let nar_hash = read_nar_hash(r)?;
                let references = read_path_set(r, dir)?;
                let registration_time = read_time(r)?;
                let nar_size = read_u64(r)?;
                let ultimate = read_u64(r)? != 0;
                let sigs = read_string_set(r, "signature")?.into_iter().collect();
                let ca = read_ca(r)?;
                if nar_size == 0 {
                    return Err(WireError::BadText {
                        what: "path info (narInfo is too old and missing the narSize field)",
                        text: String::new(),
                    });
                }
                ServeRequest::AddToStoreNar(Box::new(PathInfo {
                    path,
                    nar_hash,
                    nar_size,
                    registration_time,
                    deriver,
                    references,
                    ultimate,
                    sigs,
                    ca,
                }))
            }
        })
    }

    /// Reads a whole command (word and arguments), `None` at the end of the stream.
    pub fn read<R: Read + ?Sized>(
        r: &mut R,
        ver: Version,
        dir: &StoreDir,
    ) -> Result<Option<ServeRequest>> {
        match ServeRequest::read_command(r)? {
            None => Ok(None),
            Some(cmd) => ServeRequest::read_args(r, cmd, ver, dir).map(Some),
        }
    }

    /// Writes the command word and its arguments for a server of version `ver`. Build
    /// settings go out in the fields that version reads. Payloads are the caller's.
    pub fn write<W: Write + ?Sized>(&self, w: &mut W, ver: Version, dir: &StoreDir) -> Result<()> {
        write_u64(w, self.command().code())?;
        match self {
            ServeRequest::QueryValidPaths {
                lock,
                substitute,
                paths,
            } => {
                write_bool(w, *lock)?;
                write_bool(w, *substitute)?;
                write_paths(w, dir, paths)
            }
            ServeRequest::QueryPathInfos(paths) => write_paths(w, dir, paths),
            ServeRequest::DumpStorePath(p) => write_path(w, dir, p),
            ServeRequest::ImportPaths => Ok(()),
            ServeRequest::ExportPaths(paths) => {
                write_u64(w, 0)?;
                write_paths(w, dir, paths)
            }
            ServeRequest::BuildPaths { paths, settings } => {
                let mut ss = Vec::new();
                for p in paths {
                    ss.push(p.to_legacy_string(dir, ver)?);
                }
                write_string_list(w, &ss)?;
                settings.write(w, ver)
            }
            ServeRequest::QueryClosure {
                include_outputs,
                paths,
            } => {
                write_bool(w, *include_outputs)?;
                write_paths(w, dir, paths)
            }
            ServeRequest::BuildDerivation {
                drv_path,
                drv,
                settings,
            } => {
                write_path(w, dir, drv_path)?;
                drv.write(w, dir)?;
                settings.write(w, ver)
            }
            ServeRequest::AddToStoreNar(info) => {
                write_path(w, dir, &info.path)?;
                write_opt_path(w, dir, info.deriver.as_ref())?;
                write_string(w, &info.nar_hash.to_base16())?;
                write_paths(w, dir, &info.references)?;
                write_time(w, info.registration_time)?;
                write_u64(w, info.nar_size)?;
                write_bool(w, info.ultimate)?;
                let sigs: BTreeSet<&str> = info.sigs.iter().map(String::as_str).collect();
                write_string_list(w, sigs)?;
                write_string(w, info.ca.as_deref().unwrap_or(""))
            }
        }
    }
}

/// One entry of the `QueryPathInfos` reply. The NAR hash, content address and signatures
/// are on the wire from 2.4; the download size is the NAR size (nothing is compressed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServePathInfo {
    pub path: StorePath,
    pub deriver: Option<StorePath>,
    pub references: BTreeSet<StorePath>,
    pub download_size: u64,
    pub nar_size: u64,
    /// None only from servers older than 2.4.
    pub nar_hash: Option<Hash>,
    pub ca: Option<String>,
    pub sigs: BTreeSet<String>,
}

impl ServePathInfo {
    /// The entry a server sends for `info`.
    pub fn of(info: &PathInfo) -> ServePathInfo {
        ServePathInfo {
            path: info.path.clone(),
            deriver: info.deriver.clone(),
            references: info.references.clone(),
            download_size: info.nar_size,
            nar_size: info.nar_size,
            nar_hash: Some(info.nar_hash.clone()),
            ca: info.ca.clone(),
            sigs: info.sigs.iter().cloned().collect(),
        }
    }

    /// The store's path info, which needs the NAR hash. The registration time is unknown
    /// (now), and nothing is ultimately trusted.
    pub fn to_path_info(&self, dir: &StoreDir) -> Result<PathInfo> {
        let nar_hash = self.nar_hash.clone().ok_or_else(|| WireError::BadText {
            what: "path info (NAR hash is now mandatory)",
            text: dir.display(&self.path),
        })?;
        let mut info = PathInfo::new(self.path.clone(), nar_hash, self.nar_size);
        info.deriver = self.deriver.clone();
        info.references = self.references.clone();
        info.ca = self.ca.clone();
        info.sigs = self.sigs.iter().cloned().collect();
        Ok(info)
    }

    /// Writes one entry for a client of version `ver`.
    pub fn write<W: Write + ?Sized>(&self, w: &mut W, ver: Version, dir: &StoreDir) -> Result<()> {
        write_path(w, dir, &self.path)?;
        write_opt_path(w, dir, self.deriver.as_ref())?;
        write_paths(w, dir, &self.references)?;
        write_u64(w, self.download_size)?;
        write_u64(w, self.nar_size)?;
        if ver.at_least(4) {
            let h = self
                .nar_hash
                .as_ref()
                .map(|h| h.encode(Encoding::Nix32, true))
                .unwrap_or_default();
            write_string(w, &h)?;
            write_string(w, self.ca.as_deref().unwrap_or(""))?;
            write_string_list(w, &self.sigs)?;
        }
        Ok(())
    }
}

/// Writes the `QueryPathInfos` reply: the entries, then an empty string.
pub fn write_path_infos<W: Write + ?Sized>(
    w: &mut W,
    infos: &[ServePathInfo],
    ver: Version,
    dir: &StoreDir,
) -> Result<()> {
    for i in infos {
        i.write(w, ver, dir)?;
    }
    write_string(w, "")
}

/// Reads the `QueryPathInfos` reply of a server of version `ver`.
pub fn read_path_infos<R: Read + ?Sized>(
    r: &mut R,
    ver: Version,
    dir: &StoreDir,
) -> Result<Vec<ServePathInfo>> {
    let mut out = Vec::new();
    loop {
        let p = read_string(r, "store path")?;
        if p.is_empty() {
            return Ok(out);
        }
        let path = dir.parse_as_nix(&p)?;
        let deriver = read_opt_path(r, dir)?;
        let references = read_path_set(r, dir)?;
        let download_size = read_u64(r)?;
        let nar_size = read_u64(r)?;
        let (mut nar_hash, mut ca, mut sigs) = (None, None, BTreeSet::new());
        if ver.at_least(4) {
            let h = read_string(r, "NAR hash")?;
            if !h.is_empty() {
                nar_hash = Some(Hash::parse_any(&h, None)?);
            }
            ca = read_ca(r)?;
            sigs = read_string_set(r, "signature")?;
        }
        out.push(ServePathInfo {
            path,
            deriver,
            references,
            download_size,
            nar_size,
            nar_hash,
            ca,
            sigs,
        });
    }
}

/// The `BuildPaths` reply: 0 on success, else the failure's exit status and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildPathsReply {
    Ok,
    Failed { status: u32, msg: Vec<u8> },
}

impl BuildPathsReply {
    pub fn write<W: Write + ?Sized>(&self, w: &mut W) -> Result<()> {
        match self {
            BuildPathsReply::Ok => write_u64(w, 0),
            BuildPathsReply::Failed { status, msg } => {
                // Zero would read as success: a failure is never sent as 0.
                write_u64(w, u64::from((*status).max(1)))?;
                crate::codec::write_bytes(w, msg)
            }
        }
    }

    /// Reads the reply. Like Nix's client, a status that is a successful build status
    /// (0, 1, 2, 13) is success, and anything else carries a message.
    pub fn read<R: Read + ?Sized>(r: &mut R) -> Result<Self> {
        let status = read_u32(r, "build status")?;
        let ok = BuildStatus::from_code(u64::from(status)).is_some_and(|s| s.success());
        if ok {
            Ok(BuildPathsReply::Ok)
        } else {
            Ok(BuildPathsReply::Failed {
                status,
                msg: crate::codec::read_bytes(r)?,
            })
        }
    }
}

/// Writes the `BuildDerivation` reply for a client of version `ver`: status and message,
/// the counts and times from 2.3, the built outputs from 2.6.
pub fn write_build_result<W: Write + ?Sized>(
    w: &mut W,
    res: &BuildResult,
    ver: Version,
) -> Result<()> {
    write_u64(w, res.status as u64)?;
    crate::codec::write_bytes(w, &res.error_msg)?;
    if ver.at_least(3) {
        res.write_counts(w)?;
    }
    if ver.at_least(6) {
        write_built_outputs(w, &res.built_outputs)?;
    }
    Ok(())
}

/// Reads the `BuildDerivation` reply of a server of version `ver`.
pub fn read_build_result<R: Read + ?Sized>(r: &mut R, ver: Version) -> Result<BuildResult> {
    let code = u64::from(read_u32(r, "build status")?);
    let status = BuildStatus::from_code(code).ok_or(WireError::UnknownValue {
        what: "build status",
        value: code,
    })?;
    let mut res = BuildResult::new(status, crate::codec::read_bytes(r)?);
    if ver.at_least(3) {
        res.read_counts(r)?;
    }
    if ver.at_least(6) {
        res.built_outputs = read_built_outputs(r)?;
    }
    Ok(res)
}

/// Reads a path set reply (`QueryValidPaths`, `QueryClosure`).
pub fn read_path_set_reply<R: Read + ?Sized>(
    r: &mut R,
    dir: &StoreDir,
) -> Result<BTreeSet<StorePath>> {
    read_path_set(r, dir)
}

/// Reads the word 1 that `ImportPaths` and `AddToStoreNar` answer with.
pub fn read_ack<R: Read + ?Sized>(r: &mut R) -> Result<bool> {
    Ok(read_count(r)? == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrix_store::hash::HashAlgo;
    use std::io::Cursor;

    fn dir() -> StoreDir {
        StoreDir::default()
    }

    fn sp(name: &str) -> StorePath {
        StorePath::from_parts(&[7u8; 20], name).expect("valid name")
    }

    fn words(ws: &[u64]) -> Vec<u8> {
        ws.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    #[test]
    fn handshake_bytes_and_versions() {
        // The server reads the magic and the client's version, and answers magic and 2.7.
        let mut input = Cursor::new(words(&[0x390c9deb, 0x205]));
        let mut out = Vec::new();
        let v = server_handshake(&mut input, &mut out).unwrap();
        assert_eq!(v, Version::new(2, 5));
        assert_eq!(out, words(&[0x5452eecb, 0x207]));

        let mut out = Vec::new();
        let v = client_handshake(&mut Cursor::new(words(&[0x5452eecb, 0x207])), &mut out).unwrap();
        assert_eq!(v, SERVE_VERSION);
        assert_eq!(out, words(&[0x390c9deb, 0x207]));

        let bad = server_handshake(
            &mut Cursor::new(words(&[0x6e697863, 0x207])),
            &mut Vec::new(),
        );
        assert!(matches!(bad, Err(WireError::BadMagic { .. })));
        let old = client_handshake(
            &mut Cursor::new(words(&[0x5452eecb, 0x107])),
            &mut Vec::new(),
        );
        assert!(matches!(old, Err(WireError::UnsupportedServeMajor(_))));
    }

    fn round_trip(req: ServeRequest, ver: Version) -> ServeRequest {
        let mut buf = Vec::new();
        req.write(&mut buf, ver, &dir()).unwrap();
        let mut c = Cursor::new(buf);
        let got = ServeRequest::read(&mut c, ver, &dir()).unwrap().unwrap();
        assert_eq!(c.position() as usize, c.get_ref().len(), "all bytes read");
        assert_eq!(ServeRequest::read(&mut c, ver, &dir()).unwrap(), None);
        got
    }

    #[test]
    fn requests_round_trip() {
        let paths: BTreeSet<StorePath> = [sp("a"), sp("b.drv")].into();
        let settings = ServeBuildSettings {
            max_silent_time: 5,
            build_timeout: 6,
            max_log_size: 7,
            build_repeat: 1,
            enforce_determinism: true,
            keep_failed: true,
        };
        let mut info = PathInfo::new(sp("c"), Hash::of(HashAlgo::Sha256, b"x"), 120);
        info.references = paths.clone();
        info.deriver = Some(sp("c.drv"));
        info.sigs = vec!["k:abc".into()];
        info.ca =
            Some("fixed:r:sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s".into());
        let drv = BasicDerivation {
            input_srcs: paths.clone(),
            builder: b"/bin/sh".to_vec(),
            ..Default::default()
        };
        let reqs = vec![
            ServeRequest::QueryValidPaths {
                lock: true,
                substitute: false,
                paths: paths.clone(),
            },
            ServeRequest::QueryPathInfos(paths.clone()),
            ServeRequest::DumpStorePath(sp("a")),
            ServeRequest::ImportPaths,
            ServeRequest::ExportPaths(paths.clone()),
            ServeRequest::BuildPaths {
                paths: vec![
                    DerivedPath::Opaque(sp("a")),
                    DerivedPath::Built {
                        drv: sp("b.drv"),
                        outputs: ["out".to_string()].into(),
                    },
                ],
                settings,
            },
            ServeRequest::QueryClosure {
                include_outputs: true,
                paths: paths.clone(),
            },
            ServeRequest::BuildDerivation {
                drv_path: sp("b.drv"),
                drv,
                settings,
            },
            ServeRequest::AddToStoreNar(Box::new(info)),
        ];
        for r in reqs {
            assert_eq!(round_trip(r.clone(), SERVE_VERSION), r);
        }
    }

    #[test]
    fn build_settings_follow_the_version() {
        let s = ServeBuildSettings {
            max_silent_time: 1,
            build_timeout: 2,
            max_log_size: 3,
            build_repeat: 4,
            enforce_determinism: true,
            keep_failed: true,
        };
        for (minor, len) in [(0u8, 2usize), (2, 3), (3, 5), (6, 5), (7, 6)] {
            let v = Version::new(2, minor);
            let mut buf = Vec::new();
            s.write(&mut buf, v).unwrap();
            assert_eq!(buf.len(), len * 8, "2.{minor}");
            let back = ServeBuildSettings::read(&mut &buf[..], v).unwrap();
            assert_eq!(back.max_silent_time, 1);
            assert_eq!(back.keep_failed, minor >= 7);
        }
    }

    #[test]
    fn path_infos_and_results() {
        let mut info = PathInfo::new(sp("c"), Hash::of(HashAlgo::Sha256, b"x"), 120);
        info.references = [sp("a")].into();
        let e = ServePathInfo::of(&info);
        let mut buf = Vec::new();
        write_path_infos(&mut buf, &[e.clone(), e.clone()], SERVE_VERSION, &dir()).unwrap();
        let back = read_path_infos(&mut &buf[..], SERVE_VERSION, &dir()).unwrap();
        assert_eq!(back, vec![e.clone(), e.clone()]);
        let pi = back[0].to_path_info(&dir()).unwrap();
        assert_eq!(
            (pi.nar_hash, pi.nar_size, pi.references),
            (info.nar_hash.clone(), 120, info.references.clone())
        );
        // The NAR hash goes out in Nix32 with its algorithm, as Nix's server sends it.
        let h = info.nar_hash.encode(Encoding::Nix32, true);
        assert!(buf.windows(h.len()).any(|w| w == h.as_bytes()));

        let mut r = BuildResult::new(BuildStatus::PermanentFailure, "boom");
        r.times_built = 1;
        r.start_time = 10;
        r.stop_time = 11;
        let mut buf = Vec::new();
        write_build_result(&mut buf, &r, SERVE_VERSION).unwrap();
        assert_eq!(read_build_result(&mut &buf[..], SERVE_VERSION).unwrap(), r);

        for reply in [
            BuildPathsReply::Ok,
            BuildPathsReply::Failed {
                status: 100,
                msg: b"failed".to_vec(),
            },
        ] {
            let mut buf = Vec::new();
            reply.write(&mut buf).unwrap();
            assert_eq!(BuildPathsReply::read(&mut &buf[..]).unwrap(), reply);
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        let d = dir();
        assert!(ServeRequest::read(&mut &words(&[42])[..], SERVE_VERSION, &d).is_err());
        assert!(ServeRequest::read(&mut &words(&[1 << 40])[..], SERVE_VERSION, &d).is_err());
        assert!(ServeRequest::read(&mut &[1u8, 0, 0][..], SERVE_VERSION, &d).is_err());
        // A NAR size of zero is refused, as Nix refuses it.
        let mut info = PathInfo::new(sp("c"), Hash::of(HashAlgo::Sha256, b"x"), 0);
        info.nar_size = 0;
        let mut buf = Vec::new();
        ServeRequest::AddToStoreNar(Box::new(info))
            .write(&mut buf, SERVE_VERSION, &d)
            .unwrap();
        assert!(ServeRequest::read(&mut &buf[..], SERVE_VERSION, &d).is_err());
        // Any prefix of a valid command is an error, never a panic.
        let mut buf = Vec::new();
        ServeRequest::QueryValidPaths {
            lock: false,
            substitute: true,
            paths: [sp("a")].into(),
        }
        .write(&mut buf, SERVE_VERSION, &d)
        .unwrap();
        for n in 1..buf.len() {
            assert!(ServeRequest::read(&mut &buf[..n], SERVE_VERSION, &d).is_err());
        }
    }
}
