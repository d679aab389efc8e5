//! `nix-store --serve [--write]`: the serve protocol 2.7 (see [`ferrix_wire::serve`]) on a
//! pair of streams, usually an SSH session's standard input and output, against any
//! [`Store`].
//!
//! Without `--write`, the commands that change the store (`ImportPaths`, `AddToStoreNar`,
//! `BuildPaths`, `BuildDerivation`) end the session with an error, as in Nix. With it, every
//! path the client asks about becomes a temporary garbage collector root for the rest of
//! the session, so that a closure copied in several steps cannot lose a path it relies on
//! to a collector running meanwhile (Nix does so only when the client asks for a lock).

use ferrix_builder::BuildSettings;
use ferrix_store::path::StorePath;
use ferrix_store::store::{closure, substitute_paths, BuildMode, DerivedPath, Store, StoreError};
use ferrix_wire::codec::{write_paths, write_u64};
use ferrix_wire::convert;
use ferrix_wire::serve::{self, BuildPathsReply, ServeBuildSettings, ServePathInfo, ServeRequest};
use ferrix_wire::WireError;
use std::collections::BTreeSet;
use std::io::{self, BufReader, BufWriter, Read, Write};

/// Why a session ended with an error. The client sees only the end of the stream; the
/// message goes to standard error (over SSH, the client's).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A command that writes, without `--write`.
    #[error("{0}")]
    NotAllowed(&'static str),
}

/// What the session may do and how it reaches the builder.
pub struct ServeHost<'a> {
    /// `--write`: the client may add paths and build.
    pub write: bool,
    /// Applies the build settings a client sends with a build command to the builds that
    /// follow (see [`build_settings`]). An error fails that build.
    pub apply_build_settings: &'a mut dyn FnMut(&ServeBuildSettings) -> Result<(), StoreError>,
    /// Warnings (a path that could not be substituted).
    pub warn: &'a mut dyn FnMut(String),
}

/// The builder's settings for a build a serve client asks for: the machine's `base`, with
/// the client's limits, repeat count, determinism and keep-failed, no substitution and no
/// kept log, as Nix's `nix-store --serve` sets them.
pub fn build_settings(base: &BuildSettings, s: &ServeBuildSettings) -> BuildSettings {
    let mut b = base.clone();
    b.max_silent_time = u64::from(s.max_silent_time);
    b.timeout = u64::from(s.build_timeout);
    b.max_log_size = s.max_log_size;
    b.repeat = u64::from(s.build_repeat);
    b.enforce_determinism = s.enforce_determinism;
    b.keep_failed = s.keep_failed;
    b.keep_log = false;
    b.print_missing = false;
    b
}

/// Serves one client on standard input and output, and interrupts running builds when it
/// hangs up.
pub fn run_stdio(store: &dyn Store, host: &mut ServeHost<'_>) -> Result<(), ServeError> {
    crate::listener::watch_hangup(0);
    serve(io::stdin().lock(), io::stdout().lock(), store, host)
}

/// Serves one client on `input` and `output` until it closes its end.
pub fn serve(
    input: impl Read,
    output: impl Write,
    store: &dyn Store,
    host: &mut ServeHost<'_>,
) -> Result<(), ServeError> {
    let mut r = BufReader::with_capacity(1 << 16, input);
    let mut w = BufWriter::with_capacity(1 << 16, output);
    let ver = serve::server_handshake(&mut r, &mut w)?;
    let dir = store.dir().clone();
    // `AddToStoreNar`s read but not yet valid nor acknowledged: a client that sends many
    // without waiting gets them made valid as a group (one sync, one transaction), once
    // nothing more is waiting in the buffer; one that waits for each gets each at once.
    let mut pending = 0usize;
    let commit = |w: &mut BufWriter<_>, pending: &mut usize| -> Result<(), ServeError> {
        if *pending > 0 {
            store.commit_added()?;
            for _ in 0..*pending {
                write_u64(w, 1)?;
            }
            *pending = 0;
            w.flush()?;
        }
        Ok(())
    };
    loop {
        if pending >= MAX_GROUP || (pending > 0 && r.buffer().is_empty()) {
            commit(&mut w, &mut pending)?;
        }
        let Some(req) = ServeRequest::read(&mut r, ver, &dir)? else {
            return commit(&mut w, &mut pending);
        };
        if req.writes() && !host.write {
            return Err(ServeError::NotAllowed(match req {
                ServeRequest::ImportPaths | ServeRequest::AddToStoreNar(_) => {
                    "importing paths is not allowed"
                }
                _ => "building paths is not allowed",
            }));
        }
        let adding = matches!(req, ServeRequest::AddToStoreNar(_));
        if !adding {
            commit(&mut w, &mut pending)?;
        }
        match perform(req, &mut r, &mut w, store, host, ver) {
            Ok(Reply::Sent) => w.flush()?,
            Ok(Reply::Deferred) => pending += 1,
            Err(e) => {
                if adding {
                    // The additions before it are whole: they become valid.
                    commit(&mut w, &mut pending)?;
                }
                return Err(e);
            }
        }
    }
}

/// At most this many additions wait for one commit.
const MAX_GROUP: usize = 1000;

/// Reads the archive of an `AddToStoreNar` for `info` into the store, deferred (see
/// [`Store::add_nar_deferred`]); the whole archive is read, whatever becomes of it.
fn add_deferred(
    info: &ferrix_store::PathInfo,
    r: &mut impl Read,
    store: &dyn Store,
) -> Result<(), ServeError> {
    store.add_temp_root(&info.path)?;
    let mut nar = r.take(info.nar_size);
    let res = store.add_nar_deferred(info, &mut nar, false);
    io::copy(&mut nar, &mut io::sink())?;
    if nar.limit() > 0 {
        return Err(WireError::Eof.into());
    }
    Ok(res?)
}

/// What [`perform`] did about its reply.
enum Reply {
    /// Written (not flushed).
    Sent,
    /// Left for the commit of the group of additions the request joined.
    Deferred,
}

/// Serves one request.
fn perform<R: Read, W: Write>(
    req: ServeRequest,
    r: &mut R,
    w: &mut W,
    store: &dyn Store,
    host: &mut ServeHost<'_>,
    ver: ferrix_wire::Version,
) -> Result<Reply, ServeError> {
    let dir = store.dir().clone();
    let write = host.write;
    let keep = |paths: &mut dyn Iterator<Item = &StorePath>| -> Result<(), StoreError> {
        if write {
            for p in paths {
                store.add_temp_root(p)?;
            }
        }
        Ok(())
    };
    match req {
        ServeRequest::QueryValidPaths {
            lock: _,
            substitute,
            paths,
        } => {
            keep(&mut paths.iter())?;
            if substitute && host.write {
                let missing: BTreeSet<StorePath> = paths
                    .difference(&store.query_valid_paths(&paths)?)
                    .cloned()
                    .collect();
                substitute_paths(store, &missing, host.warn)?;
            }
            let valid = store.query_valid_paths(&paths)?;
            write_paths(w, &dir, &valid)?;
        }
        ServeRequest::QueryPathInfos(paths) => {
            keep(&mut paths.iter())?;
            let mut infos = Vec::new();
            for p in &paths {
                if let Some(info) = store.path_info(p)? {
                    infos.push(ServePathInfo::of(&info));
                }
            }
            serve::write_path_infos(w, &infos, ver, &dir)?;
        }
        ServeRequest::DumpStorePath(p) => {
            keep(&mut std::iter::once(&p))?;
            if !store.is_valid(&p)? {
                return Err(
                    StoreError::Other(format!("path '{}' is not valid", dir.display(&p))).into(),
                );
            }
            store.nar_from_path(&p, w)?;
        }
        ServeRequest::ExportPaths(paths) => {
            keep(&mut paths.iter())?;
            ferrix_store::export::export_paths(store, &paths, w)?;
        }
        ServeRequest::QueryClosure {
            include_outputs,
            paths,
        } => {
            keep(&mut paths.iter())?;
            let all = closure(store, &paths, false, include_outputs)?;
            keep(&mut all.iter())?;
            write_paths(w, &dir, &all)?;
        }
        ServeRequest::ImportPaths => {
            ferrix_store::export::import_paths(store, r, &mut |p| {
                let _ = store.add_temp_root(p);
            })?;
            write_u64(w, 1)?;
        }
        ServeRequest::AddToStoreNar(info) => {
            // Made valid, and acknowledged, with the group it joins (see `serve`).
            add_deferred(&info, r, store)?;
            return Ok(Reply::Deferred);
        }
        ServeRequest::BuildPaths { paths, settings } => {
            let targets: Vec<DerivedPath> = paths.iter().map(convert::derived_path).collect();
            let res = (host.apply_build_settings)(&settings)
                .and_then(|()| store.build_paths(&targets, BuildMode::Normal));
            let reply = match res {
                Ok(()) => BuildPathsReply::Ok,
                Err(StoreError::Build { msg, status }) => BuildPathsReply::Failed {
                    status: u32::try_from(status).unwrap_or(1),
                    msg: msg.into_bytes(),
                },
                Err(e) => BuildPathsReply::Failed {
                    status: 1,
                    msg: e.to_string().into_bytes(),
                },
            };
            reply.write(w)?;
        }
        ServeRequest::BuildDerivation {
            drv_path,
            drv,
            settings,
        } => {
            let d = drv.to_derivation(&dir);
            let res = (host.apply_build_settings)(&settings)
                .and_then(|()| store.build_derivation(&drv_path, &d, BuildMode::Normal));
            let result = match res {
                Ok(r) => convert::build_result(&r),
                Err(e) => ferrix_wire::BuildResult::new(convert::failure_status(&e), e.to_string()),
            };
            serve::write_build_result(w, &result, ver)?;
        }
    }
    Ok(Reply::Sent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrix_store::db::PathInfo;
    use ferrix_store::hash::Hash;
    use ferrix_store::local::{LocalConfig, LocalStore};
    use ferrix_store::path::StoreDir;

    fn store(root: &std::path::Path) -> LocalStore {
        LocalStore::open(LocalConfig::chroot(root)).unwrap()
    }

    /// Serves `input` to the end with `write` as `--write`, and gives the result and what
    /// was written back.
    fn serve_all(
        input: &[u8],
        store: &LocalStore,
        write: bool,
    ) -> (Result<(), ServeError>, Vec<u8>) {
        let mut output = Vec::new();
        let mut apply = |_: &ServeBuildSettings| Ok(());
        let mut warn = |_: String| {};
        let mut host = ServeHost {
            write,
            apply_build_settings: &mut apply,
            warn: &mut warn,
        };
        let res = serve(input, &mut output, store, &mut host);
        (res, output)
    }

    /// A client's greeting.
    fn greeting() -> Vec<u8> {
        let mut input = Vec::new();
        write_u64(&mut input, serve::SERVE_MAGIC_1).unwrap();
        write_u64(&mut input, u64::from(serve::SERVE_VERSION.0)).unwrap();
        input
    }

    /// Appends to `input` an `AddToStoreNar` request for a file holding `text` and the
    /// first `keep` parts in 1,000 of its archive; gives the path.
    fn add(input: &mut Vec<u8>, dir: &StoreDir, name: &str, text: &[u8], keep: usize) -> StorePath {
        let mut nar = Vec::new();
        ferrix_store::nar::dump_bytes(text, false, &mut nar).unwrap();
        let base = format!("{}-{name}", "0".repeat(32));
        let path = StorePath::from_base_name(&base).unwrap();
        let info = PathInfo::new(path.clone(), Hash::sha256(&nar), nar.len() as u64);
        ServeRequest::AddToStoreNar(Box::new(info))
            .write(input, serve::SERVE_VERSION, dir)
            .unwrap();
        input.extend_from_slice(&nar[..nar.len() * keep / 1000]);
        path
    }

    /// Additions sent without waiting are made valid and acknowledged as a group. A
    /// truncated one after them ends the session with an error, and those before it stay
    /// valid: each acknowledged once, none twice.
    #[test]
    fn additions_are_grouped_and_a_truncated_one_keeps_those_before() {
        let tmp = tempfile::tempdir().unwrap();
        let store = store(tmp.path());
        let dir = store.dir().clone();
        let mut input = greeting();
        let paths: Vec<StorePath> = ["a", "b"]
            .iter()
            .map(|n| add(&mut input, &dir, n, n.as_bytes(), 1000))
            .collect();
        let cut = add(&mut input, &dir, "c", b"cut short", 500);

        let (res, output) = serve_all(&input, &store, true);
        assert!(res.is_err(), "a truncated archive is an error");
        for p in &paths {
            assert!(store.is_valid(p).unwrap(), "{p:?} stays valid");
        }
        assert!(!store.is_valid(&cut).unwrap());
        // The greeting (magic and version), then one acknowledgement per whole addition.
        let words: Vec<u64> = output
            .chunks(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(
            words,
            [
                serve::SERVE_MAGIC_2,
                u64::from(serve::SERVE_VERSION.0),
                1,
                1
            ]
        );
    }

    /// Without `--write`, an addition is refused before its archive is read.
    #[test]
    fn additions_need_write() {
        let tmp = tempfile::tempdir().unwrap();
        let store = store(tmp.path());
        let dir = store.dir().clone();
        let mut input = greeting();
        let path = add(&mut input, &dir, "a", b"a", 1000);
        let err = serve_all(&input, &store, false).0.unwrap_err();
        assert!(
            err.to_string().contains("importing paths is not allowed"),
            "{err}"
        );
        assert!(!store.is_valid(&path).unwrap());
    }
}
