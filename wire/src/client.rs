//! The daemon store: every operation of the [`Store`] trait sent to a Nix daemon (Ferrix's
//! or Nix's) over its Unix socket. This is the one module of the crate that opens anything:
//! the socket, in [`DaemonStore::connect`]. Everything else goes through the pure encoding.

use crate::convert;
use crate::{
    AddToStore, CaMethod, ClientSettings, FramedWriter, Reply, Request, ResultType, StderrMsg,
    Verbosity, Version, WireError,
};
use ferrix_store::derivation::Derivation;
use ferrix_store::path::{Ingestion, StoreDir, StorePath};
use ferrix_store::store::{
    BuildMode, BuildResult, DerivedPath, Filter, GcOptions, GcResult, Missing, Roots, Store,
    StoreError,
};
use ferrix_store::{HashAlgo, PathInfo};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// What the daemon says while it works, for the client to show.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A log message (`STDERR_NEXT`), without its newline.
    Message(&'a [u8]),
    /// An activity started; `text` is its description (`building '…'`), maybe empty.
    Activity { level: Verbosity, text: &'a [u8] },
    /// A line of build output.
    BuildLine(&'a [u8]),
}

/// Where [`Event`]s go.
pub type EventSink = Arc<dyn Fn(Event<'_>) + Send + Sync>;

struct Conn {
    r: BufReader<UnixStream>,
    w: BufWriter<UnixStream>,
    ver: Version,
}

/// A store served by a daemon.
pub struct DaemonStore {
    dir: StoreDir,
    socket: PathBuf,
    /// `NIX_LOG_DIR`: build logs are read there, as Nix's client does.
    log_dir: PathBuf,
    settings: ClientSettings,
    events: EventSink,
    conn: Mutex<Option<Conn>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// An error message of the daemon, without the terminal escapes Nix puts in for colour.
fn plain(msg: &[u8]) -> String {
    let mut out = Vec::with_capacity(msg.len());
    let mut i = 0;
    while i < msg.len() {
        if msg[i] == 0x1b && msg.get(i + 1) == Some(&b'[') {
            i += 2;
            while i < msg.len() && !(0x40..=0x7e).contains(&msg[i]) {
                i += 1;
            }
            i += 1;
        } else {
            out.push(msg[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl DaemonStore {
    /// Connects to the daemon at `socket`, greets it and sends `settings`.
    pub fn connect(
        dir: StoreDir,
        socket: &Path,
        log_dir: PathBuf,
        settings: ClientSettings,
        events: EventSink,
    ) -> Result<DaemonStore, StoreError> {
        let s = DaemonStore {
            dir,
            socket: socket.to_path_buf(),
            log_dir,
            settings,
            events,
            conn: Mutex::new(None),
        };
        let c = s.open()?;
        *lock(&s.conn) = Some(c);
        Ok(s)
    }

    fn open(&self) -> Result<Conn, StoreError> {
        let stream = UnixStream::connect(&self.socket).map_err(|e| {
            StoreError::Other(format!(
                "cannot connect to socket at '{}': {}",
                self.socket.display(),
                ferrix_store::io_reason(&e)
            ))
        })?;
        let mut c = Conn {
            r: BufReader::with_capacity(1 << 16, stream.try_clone()?),
            w: BufWriter::with_capacity(1 << 16, stream),
            ver: Version::CURRENT,
        };
        let info = crate::client_handshake(&mut c.r, &mut c.w, Version::CURRENT)
            .map_err(|e| self.lost(e))?;
        c.ver = info.version;
        self.finish(&mut c, None, None)?;
        let req = Request::SetOptions(self.settings.clone());
        req.write(&mut c.w, c.ver, &self.dir)?;
        c.w.flush()?;
        self.finish(&mut c, None, None)?;
        Ok(c)
    }

    fn lost(&self, e: WireError) -> StoreError {
        match e {
            WireError::Eof => StoreError::Other(format!(
                "the Nix daemon at '{}' closed the connection",
                self.socket.display()
            )),
            e => StoreError::from(e),
        }
    }

    /// Reads the daemon's log until the operation ends: `Last`, or its error. `source`
    /// answers `STDERR_READ`, `sink` takes `STDERR_WRITE`.
    fn finish(
        &self,
        c: &mut Conn,
        mut source: Option<&mut dyn Read>,
        mut sink: Option<&mut dyn Write>,
    ) -> Result<(), StoreError> {
        loop {
            let m = StderrMsg::read(&mut c.r, c.ver).map_err(|e| self.lost(e))?;
            match m {
                StderrMsg::Last => return Ok(()),
                StderrMsg::Error(e) => {
                    let msg = plain(&e.message);
                    return Err(if e.status != 1 && e.status != 0 {
                        StoreError::Build {
                            msg,
                            status: e.status as i32,
                        }
                    } else {
                        StoreError::Other(msg)
                    });
                }
                StderrMsg::Next(text) => {
                    let t = text.strip_suffix(b"\n").unwrap_or(&text);
                    (self.events)(Event::Message(t));
                }
                StderrMsg::StartActivity { level, text, .. } => {
                    (self.events)(Event::Activity { level, text: &text })
                }
                StderrMsg::Result { kind, fields, .. } => {
                    if kind == ResultType::BuildLogLine {
                        if let Some(crate::Field::String(line)) = fields.first() {
                            (self.events)(Event::BuildLine(line));
                        }
                    }
                }
                StderrMsg::StopActivity { .. } => {}
                StderrMsg::Read(n) => {
                    let Some(src) = source.as_deref_mut() else {
                        return Err(StoreError::Other(
                            "the Nix daemon asked for data no operation sends".into(),
                        ));
                    };
                    crate::answer_read(src, &mut c.w, n)?;
                    c.w.flush()?;
                }
                StderrMsg::Write(data) => match sink.as_deref_mut() {
                    Some(s) => s.write_all(&data)?,
                    None => {
                        return Err(StoreError::Other(
                            "the Nix daemon sent data no operation takes".into(),
                        ))
                    }
                },
            }
        }
    }

    /// Runs `f` on the connection, reconnecting first if an earlier operation broke it. A
    /// failure that leaves the stream out of step drops the connection.
    fn with_conn<T>(
        &self,
        f: impl FnOnce(&Self, &mut Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut g = lock(&self.conn);
        if g.is_none() {
            *g = Some(self.open()?);
        }
        let Some(c) = g.as_mut() else {
            return Err(StoreError::Other("no connection to the Nix daemon".into()));
        };
        let r = f(self, c);
        if let Err(e) = &r {
            // A daemon error leaves the stream in step; anything else may not.
            let in_step = matches!(e, StoreError::Other(_) | StoreError::Build { .. })
                && !matches!(e, StoreError::Other(m) if m.starts_with("the Nix daemon"));
            if !in_step {
                *g = None;
            }
        }
        r
    }

    /// Sends `req` (no payload), reads the log and the reply.
    fn call(&self, req: Request) -> Result<Reply, StoreError> {
        self.with_conn(|s, c| {
            req.write(&mut c.w, c.ver, &s.dir)?;
            c.w.flush()?;
            s.finish(c, None, None)?;
            Reply::read(&mut c.r, &req, c.ver, &s.dir).map_err(|e| s.lost(e))
        })
    }

    /// Sends `req` and then `payload` framed (1.23 and later).
    fn call_framed(&self, req: Request, payload: &mut dyn Read) -> Result<Reply, StoreError> {
        self.with_conn(|s, c| {
            req.write(&mut c.w, c.ver, &s.dir)?;
            let mut fw = FramedWriter::new(&mut c.w);
            io::copy(payload, &mut fw)?;
            fw.finish()?;
            c.w.flush()?;
            s.finish(c, None, None)?;
            Reply::read(&mut c.r, &req, c.ver, &s.dir).map_err(|e| s.lost(e))
        })
    }

    fn unexpected(&self, r: Reply) -> StoreError {
        StoreError::Other(format!("unexpected reply from the Nix daemon: {r:?}"))
    }

    fn paths(&self, req: Request) -> Result<BTreeSet<StorePath>, StoreError> {
        match self.call(req)? {
            Reply::PathSet(p) => Ok(p),
            r => Err(self.unexpected(r)),
        }
    }

    fn ack(&self, req: Request) -> Result<(), StoreError> {
        match self.call(req)? {
            Reply::Ack | Reply::Nothing => Ok(()),
            r => Err(self.unexpected(r)),
        }
    }

    fn version(&self) -> Result<Version, StoreError> {
        self.with_conn(|_, c| Ok(c.ver))
    }

    fn add_ca(
        &self,
        name: &str,
        method: CaMethod,
        refs: &BTreeSet<StorePath>,
        dump: &mut dyn Read,
        repair: bool,
    ) -> Result<PathInfo, StoreError> {
        if !self.version()?.at_least(25) {
            return Err(StoreError::Unsupported(
                "adding paths to a Nix daemon older than protocol 1.25 is not supported".into(),
            ));
        }
        let req = Request::AddToStore(AddToStore::Ca {
            name: name.to_string(),
            method,
            references: refs.clone(),
            repair,
        });
        match self.call_framed(req, dump)? {
            Reply::ValidPathInfo(i) => Ok(*i),
            r => Err(self.unexpected(r)),
        }
    }
}

impl Store for DaemonStore {
    fn dir(&self) -> &StoreDir {
        &self.dir
    }

    fn uri(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    fn add_text(
        &self,
        name: &str,
        text: &[u8],
        refs: &BTreeSet<StorePath>,
    ) -> Result<StorePath, StoreError> {
        if self.version()?.at_least(25) {
            Ok(self
                .add_ca(name, CaMethod::Text, refs, &mut &text[..], false)?
                .path)
        } else {
            match self.call(Request::AddTextToStore {
                name: name.to_string(),
                text: text.to_vec(),
                references: refs.clone(),
            })? {
                Reply::Path(p) => Ok(p),
                r => Err(self.unexpected(r)),
            }
        }
    }

    fn add_path(
        &self,
        name: &str,
        src: &Path,
        method: Ingestion,
        algo: HashAlgo,
        filter: Filter<'_>,
    ) -> Result<StorePath, StoreError> {
        // The dump is made first (it may be filtered by evaluation, which cannot run on
        // another thread), then sent.
        let mut dump = Vec::new();
        match method {
            Ingestion::Recursive => ferrix_store::nar::dump(src, &mut dump, filter)?,
            Ingestion::Flat => {
                let mut f = std::fs::File::open(src)
                    .map_err(|e| StoreError::io(format!("opening file '{}'", src.display()), &e))?;
                f.read_to_end(&mut dump)?;
            }
        }
        let m = CaMethod::Fixed { method, algo };
        Ok(self
            .add_ca(name, m, &BTreeSet::new(), &mut &dump[..], false)?
            .path)
    }

    fn add_from_dump(
        &self,
        name: &str,
        method: Ingestion,
        algo: HashAlgo,
        refs: &BTreeSet<StorePath>,
        dump: &mut dyn Read,
        repair: bool,
    ) -> Result<PathInfo, StoreError> {
        self.add_ca(name, CaMethod::Fixed { method, algo }, refs, dump, repair)
    }

    fn add_nar(
        &self,
        info: &PathInfo,
        nar: &mut dyn Read,
        repair: bool,
        check_sigs: bool,
    ) -> Result<(), StoreError> {
        if !self.version()?.at_least(23) {
            return Err(StoreError::Unsupported(
                "copying paths to a Nix daemon older than protocol 1.23 is not supported".into(),
            ));
        }
        let req = Request::AddToStoreNar {
            info: Box::new(info.clone()),
            repair,
            dont_check_sigs: !check_sigs,
        };
        match self.call_framed(req, nar)? {
            Reply::Nothing => Ok(()),
            r => Err(self.unexpected(r)),
        }
    }

    fn add_signatures(&self, p: &StorePath, sigs: &[String]) -> Result<(), StoreError> {
        self.ack(Request::AddSignatures {
            path: p.clone(),
            sigs: sigs.iter().cloned().collect(),
        })
    }

    fn is_valid(&self, p: &StorePath) -> Result<bool, StoreError> {
        match self.call(Request::IsValidPath(p.clone()))? {
            Reply::Bool(b) => Ok(b),
            r => Err(self.unexpected(r)),
        }
    }

    fn path_info(&self, p: &StorePath) -> Result<Option<PathInfo>, StoreError> {
        match self.call(Request::QueryPathInfo(p.clone()))? {
            Reply::PathInfo(i) => Ok(i.map(|mut i| {
                i.path = p.clone();
                *i
            })),
            r => Err(self.unexpected(r)),
        }
    }

    fn query_valid_paths(
        &self,
        paths: &BTreeSet<StorePath>,
    ) -> Result<BTreeSet<StorePath>, StoreError> {
        self.paths(Request::QueryValidPaths {
            paths: paths.clone(),
            substitute: false,
        })
    }

    fn query_all_valid(&self) -> Result<BTreeSet<StorePath>, StoreError> {
        self.paths(Request::QueryAllValidPaths)
    }

    fn referrers(&self, p: &StorePath) -> Result<BTreeSet<StorePath>, StoreError> {
        self.paths(Request::QueryReferrers(p.clone()))
    }

    fn valid_derivers(&self, p: &StorePath) -> Result<BTreeSet<StorePath>, StoreError> {
        self.paths(Request::QueryValidDerivers(p.clone()))
    }

    fn derivation_output_map(
        &self,
        drv: &StorePath,
    ) -> Result<BTreeMap<String, Option<StorePath>>, StoreError> {
        match self.call(Request::QueryDerivationOutputMap(drv.clone()))? {
            Reply::OutputMap(m) => Ok(m),
            r => Err(self.unexpected(r)),
        }
    }

    fn query_realisation(
        &self,
        id: &ferrix_store::realisation::DrvOutput,
    ) -> Result<Option<ferrix_store::realisation::Realisation>, StoreError> {
        match self.call(Request::QueryRealisation(id.to_string()))? {
            Reply::Realisations(set) => match set.iter().next() {
                Some(json) => ferrix_store::realisation::Realisation::from_json(
                    json,
                    "the daemon's realisation",
                )
                .map(Some)
                .map_err(|e| StoreError::Other(e.to_string())),
                None => Ok(None),
            },
            Reply::PathSet(paths) => Ok(paths
                .into_iter()
                .next()
                .map(|p| ferrix_store::realisation::Realisation::new(id.clone(), p))),
            r => Err(self.unexpected(r)),
        }
    }

    fn register_drv_output(
        &self,
        r: &ferrix_store::realisation::Realisation,
    ) -> Result<(), StoreError> {
        let arg = if self.version()?.at_least(31) {
            crate::RegisterDrvOutput::Realisation(r.to_json())
        } else {
            crate::RegisterDrvOutput::Legacy {
                id: r.id.to_string(),
                out_path: r.out_path.clone(),
            }
        };
        match self.call(Request::RegisterDrvOutput(arg))? {
            Reply::Nothing => Ok(()),
            r => Err(self.unexpected(r)),
        }
    }

    fn path_from_hash_part(&self, hash: &str) -> Result<Option<StorePath>, StoreError> {
        match self.call(Request::QueryPathFromHashPart(hash.to_string()))? {
            Reply::OptPath(p) => Ok(p),
            r => Err(self.unexpected(r)),
        }
    }

    fn nar_from_path(&self, p: &StorePath, out: &mut dyn Write) -> Result<(), StoreError> {
        self.with_conn(|s, c| {
            let req = Request::NarFromPath(p.clone());
            req.write(&mut c.w, c.ver, &s.dir)?;
            c.w.flush()?;
            s.finish(c, None, None)?;
            crate::copy_nar(&mut c.r, out).map_err(|e| s.lost(e))?;
            Ok(())
        })
    }

    fn real_path(&self, p: &StorePath) -> PathBuf {
        PathBuf::from(self.dir.display(p))
    }

    fn build_log(&self, drv: &StorePath) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(ferrix_store::logs::read_log(&self.log_dir, drv)?)
    }

    fn add_build_log(&self, drv: &StorePath, log: &[u8]) -> Result<(), StoreError> {
        match self.call_framed(Request::AddBuildLog(drv.clone()), &mut &log[..])? {
            Reply::Ack => Ok(()),
            r => Err(self.unexpected(r)),
        }
    }

    fn build_paths(&self, targets: &[DerivedPath], mode: BuildMode) -> Result<(), StoreError> {
        self.ack(Request::BuildPaths {
            paths: targets.iter().map(convert::to_wire_derived_path).collect(),
            mode: convert::to_wire_build_mode(mode),
        })
    }

    fn build_derivation(
        &self,
        drv_path: &StorePath,
        drv: &Derivation,
        mode: BuildMode,
    ) -> Result<BuildResult, StoreError> {
        let req = Request::BuildDerivation {
            drv_path: drv_path.clone(),
            drv: Box::new(crate::BasicDerivation::from_derivation(drv, &self.dir)?),
            mode: convert::to_wire_build_mode(mode),
        };
        match self.call(req)? {
            Reply::BuildResult(r) => convert::from_wire_build_result(&r),
            r => Err(self.unexpected(r)),
        }
    }

    fn query_missing(&self, targets: &[DerivedPath]) -> Result<Missing, StoreError> {
        let req =
            Request::QueryMissing(targets.iter().map(convert::to_wire_derived_path).collect());
        match self.call(req)? {
            Reply::Missing(m) => Ok(convert::from_wire_missing(m)),
            r => Err(self.unexpected(r)),
        }
    }

    fn ensure_path(&self, p: &StorePath) -> Result<(), StoreError> {
        self.ack(Request::EnsurePath(p.clone()))
    }

    fn add_temp_root(&self, p: &StorePath) -> Result<(), StoreError> {
        self.ack(Request::AddTempRoot(p.clone()))
    }

    fn add_indirect_root(&self, link: &Path) -> Result<(), StoreError> {
        use std::os::unix::ffi::OsStrExt;
        self.ack(Request::AddIndirectRoot(
            link.as_os_str().as_bytes().to_vec(),
        ))
    }

    fn find_roots(&self, _censor: bool) -> Result<Roots, StoreError> {
        match self.call(Request::FindRoots)? {
            Reply::Roots(list) => {
                let mut roots = Roots::new();
                for (link, p) in list {
                    roots
                        .entry(p)
                        .or_default()
                        .insert(String::from_utf8_lossy(&link).into_owned());
                }
                Ok(roots)
            }
            r => Err(self.unexpected(r)),
        }
    }

    fn collect_garbage(&self, opts: &GcOptions) -> Result<GcResult, StoreError> {
        match self.call(Request::CollectGarbage(convert::to_wire_gc_options(opts)))? {
            Reply::Gc(g) => Ok(GcResult {
                paths: g
                    .paths
                    .into_iter()
                    .map(|p| String::from_utf8_lossy(&p).into_owned())
                    .collect(),
                bytes_freed: g.bytes_freed,
            }),
            r => Err(self.unexpected(r)),
        }
    }

    fn optimise_store(&self) -> Result<(), StoreError> {
        self.ack(Request::OptimiseStore)
    }

    fn verify_store(&self, check_contents: bool, repair: bool) -> Result<bool, StoreError> {
        match self.call(Request::VerifyStore {
            check_contents,
            repair,
        })? {
            Reply::Bool(b) => Ok(b),
            r => Err(self.unexpected(r)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::plain;

    #[test]
    fn colour_codes_are_dropped_from_daemon_errors() {
        assert_eq!(
            plain(b"path '\x1b[35;1m/nix/store/x\x1b[0m' is not valid"),
            "path '/nix/store/x' is not valid"
        );
        assert_eq!(plain(b"plain"), "plain");
        assert_eq!(plain(b"cut \x1b["), "cut ");
    }
}
