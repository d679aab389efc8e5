//! The `ssh://` store: another machine's store reached through one SSH process running
//! `nix-store --serve --write` there, spoken to with the serve protocol ([`crate::serve`]).
//! As Nix 2.8's legacy SSH store: no master connection, the caller's `NIX_SSHOPTS` passed to
//! `ssh`, and the host `localhost` reached without SSH at all (through `bash -c`).
//!
//! The store offers what the protocol can: queries of validity, metadata and closures,
//! NARs, adding paths with their NAR, and builds. It cannot add sources or text, list
//! every path, or find referrers; those are refused as Nix refuses them.

use crate::convert;
use crate::serve::{self, BuildPathsReply, ServeBuildSettings, ServePathInfo, ServeRequest};
use crate::{BasicDerivation, Version, WireError};
use ferrix_store::derivation::Derivation;
use ferrix_store::path::{Ingestion, StoreDir, StorePath};
use ferrix_store::store::{
    BuildMode, BuildResult, DerivedPath, Filter, Missing, OutputsSpec, Store, StoreError,
};
use ferrix_store::{HashAlgo, PathInfo};
use std::collections::BTreeSet;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, MutexGuard};

/// How to reach the remote store: the parameters of an `ssh://` URI.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SshOptions {
    /// `ssh-key`: the private key to log in with (`-i`).
    pub ssh_key: Option<String>,
    /// `compress`: compress the connection (`-C`), as `nix-copy-closure --gzip` asks.
    pub compress: bool,
    /// `remote-program`: the remote `nix-store` (default `nix-store`).
    pub remote_program: Option<String>,
    /// `remote-store`: the store the remote command opens (its `--store`).
    pub remote_store: Option<String>,
    /// The build settings sent with every build command.
    pub build_settings: ServeBuildSettings,
    /// More arguments for `ssh` before the command (`NIX_SSHOPTS`, split at whitespace).
    pub ssh_args: Vec<String>,
    /// `base64-ssh-public-host-key`: the host's public key (base64 of its
    /// `known_hosts` form), the only key `ssh` then accepts for it.
    pub host_key: Option<String>,
}

/// Where the remote command's standard error goes: each chunk, as it arrives (the
/// build hook makes it the build's log).
pub type StderrSink = std::sync::Arc<dyn Fn(&[u8]) + Send + Sync>;

/// The session. Fields drop in order: our end of the pipes closes first, which ends the
/// remote command, and then the SSH process is waited for.
struct Conn {
    r: BufReader<ChildStdout>,
    w: BufWriter<ChildStdin>,
    ver: Version,
    _child: Reaper,
}

/// Counts what passes through to a writer.
struct Counted<'a> {
    inner: &'a mut dyn Write,
    n: u64,
}

impl Write for Counted<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Waits for the SSH process when dropped.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.wait();
    }
}

/// A store on another machine, through `nix-store --serve`.
pub struct SshStore {
    dir: StoreDir,
    host: String,
    opts: SshOptions,
    conn: Mutex<Option<Conn>>,
    /// Standard error of the SSH process: inherited when `None`.
    stderr: Option<StderrSink>,
    /// The `known_hosts` file written for `host_key`, removed with the store.
    known_hosts: Option<tempfile::TempDir>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Writes the `known_hosts` line for `host` (without its `user@`) with the key whose
/// base64 is `key64`, in a new temporary directory.
fn write_known_hosts(host: &str, key64: &str) -> Result<tempfile::TempDir, StoreError> {
    let key = ferrix_store::hash::base64_decode(key64.trim().as_bytes()).ok_or_else(|| {
        StoreError::Other(format!(
            "the public host key of '{host}' is not valid base64"
        ))
    })?;
    let name = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let d = tempfile::Builder::new().prefix("ferrix-ssh").tempdir()?;
    let mut line = format!("{name} ").into_bytes();
    line.extend_from_slice(&key);
    line.push(b'\n');
    std::fs::write(d.path().join("host-key"), line)?;
    Ok(d)
}

/// `s` quoted for a POSIX shell, as the remote shell reads the command.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

impl SshStore {
    /// Connects to `host` (`[user@]host`) and greets its `nix-store --serve --write`.
    pub fn connect(dir: StoreDir, host: &str, opts: SshOptions) -> Result<SshStore, StoreError> {
        SshStore::connect_with_stderr(dir, host, opts, None)
    }

    /// [`SshStore::connect`], with the remote's standard error sent to `stderr`.
    pub fn connect_with_stderr(
        dir: StoreDir,
        host: &str,
        opts: SshOptions,
        stderr: Option<StderrSink>,
    ) -> Result<SshStore, StoreError> {
        if host.is_empty() || host.starts_with('-') {
            return Err(StoreError::Other(format!("invalid SSH host name '{host}'")));
        }
        let known_hosts = match &opts.host_key {
            Some(k) => Some(write_known_hosts(host, k)?),
            None => None,
        };
        let s = SshStore {
            dir,
            host: host.to_string(),
            opts,
            conn: Mutex::new(None),
            stderr,
            known_hosts,
        };
        let c = s.open()?;
        *lock(&s.conn) = Some(c);
        Ok(s)
    }

    /// The remote command line.
    fn remote_command(&self) -> String {
        let program = self.opts.remote_program.as_deref().unwrap_or("nix-store");
        let mut cmd = format!("{program} --serve --write");
        if let Some(st) = &self.opts.remote_store {
            cmd.push_str(" --store ");
            cmd.push_str(&shell_quote(st));
        }
        cmd
    }

    /// The process that carries the session: `ssh HOST -x -a NIX_SSHOPTS… [-i KEY] [-C]
    /// COMMAND`, or `bash -c COMMAND` for `localhost`.
    fn command(&self) -> Command {
        let remote = self.remote_command();
        if self.host == "localhost" {
            let mut c = Command::new("bash");
            c.arg("-c").arg(remote);
            return c;
        }
        let mut c = Command::new("ssh");
        c.arg(&self.host).args(["-x", "-a"]);
        c.args(&self.opts.ssh_args);
        if let Some(k) = &self.opts.ssh_key {
            c.arg("-i").arg(k);
        }
        if self.opts.compress {
            c.arg("-C");
        }
        if let Some(d) = &self.known_hosts {
            let mut o = std::ffi::OsString::from("-oUserKnownHostsFile=");
            o.push(d.path().join("host-key"));
            c.arg(o);
        }
        c.arg(remote);
        c
    }

    fn open(&self) -> Result<Conn, StoreError> {
        let mut cmd = self.command();
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(match self.stderr {
                Some(_) => Stdio::piped(),
                None => Stdio::inherit(),
            });
        let mut child = cmd.spawn().map_err(|e| {
            StoreError::Other(format!(
                "unable to execute '{}': {}",
                cmd.get_program().to_string_lossy(),
                ferrix_store::io_reason(&e)
            ))
        })?;
        if let (Some(sink), Some(mut err)) = (self.stderr.clone(), child.stderr.take()) {
            // Ends when the SSH process closes its standard error (it exits).
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                loop {
                    match err.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => sink(&buf[..n]),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
            });
        }
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(StoreError::Other(format!(
                "cannot connect to '{}'",
                self.host
            )));
        };
        let mut r = BufReader::with_capacity(1 << 16, stdout);
        let mut w = BufWriter::with_capacity(1 << 16, stdin);
        match serve::client_handshake(&mut r, &mut w) {
            Ok(ver) => Ok(Conn {
                r,
                w,
                ver,
                _child: Reaper(child),
            }),
            Err(e) => {
                drop(w);
                let _ = child.wait();
                Err(match e {
                    WireError::Eof | WireError::Io(_) => {
                        StoreError::Other(format!("cannot connect to '{}'", self.host))
                    }
                    WireError::BadMagic { .. } => StoreError::Other(format!(
                        "'nix-store --serve' protocol mismatch from '{}'",
                        self.host
                    )),
                    WireError::UnsupportedServeMajor(_) => StoreError::Other(format!(
                        "unsupported 'nix-store --serve' protocol version on '{}'",
                        self.host
                    )),
                    e => e.into(),
                })
            }
        }
    }

    /// Runs `f` on the session, starting a new one first if an earlier failure ended it.
    /// Any failure ends the session: the stream may be out of step, or the remote gone.
    fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut g = lock(&self.conn);
        if g.is_none() {
            *g = Some(self.open()?);
        }
        let Some(c) = g.as_mut() else {
            return Err(StoreError::Other(format!(
                "cannot connect to '{}'",
                self.host
            )));
        };
        let r = f(c);
        if r.is_err() {
            *g = None;
        }
        r
    }

    fn lost(&self, e: WireError) -> StoreError {
        match e {
            WireError::Eof => StoreError::Other(format!(
                "the connection to '{}' was closed (see the remote's error above)",
                self.host
            )),
            e => e.into(),
        }
    }

    /// Sends `req` and flushes.
    fn send(&self, c: &mut Conn, req: &ServeRequest) -> Result<(), StoreError> {
        req.write(&mut c.w, c.ver, &self.dir)
            .and_then(|()| c.w.flush().map_err(WireError::from))
            .map_err(|e| self.lost(e))
    }

    /// The protocol version the remote speaks.
    pub fn version(&self) -> Result<Version, StoreError> {
        self.with_conn(|c| Ok(c.ver))
    }

    /// Which of `paths` are valid on the remote. With `lock`, the remote keeps them from
    /// its garbage collector for the session; with `substitute`, it first substitutes
    /// those it can.
    pub fn query_valid(
        &self,
        paths: &BTreeSet<StorePath>,
        lock: bool,
        substitute: bool,
    ) -> Result<BTreeSet<StorePath>, StoreError> {
        self.with_conn(|c| {
            self.send(
                c,
                &ServeRequest::QueryValidPaths {
                    lock,
                    substitute,
                    paths: paths.clone(),
                },
            )?;
            serve::read_path_set_reply(&mut c.r, &self.dir).map_err(|e| self.lost(e))
        })
    }

    /// The metadata of the valid ones of `paths`, in one round trip.
    pub fn query_path_infos(
        &self,
        paths: &BTreeSet<StorePath>,
    ) -> Result<Vec<PathInfo>, StoreError> {
        let entries: Vec<ServePathInfo> = self.with_conn(|c| {
            self.send(c, &ServeRequest::QueryPathInfos(paths.clone()))?;
            serve::read_path_infos(&mut c.r, c.ver, &self.dir).map_err(|e| self.lost(e))
        })?;
        let mut out = Vec::new();
        for e in entries {
            out.push(e.to_path_info(&self.dir)?);
        }
        Ok(out)
    }

    /// The closure of `paths` on the remote, with the outputs of derivations when
    /// `include_outputs`, in one round trip.
    pub fn query_closure(
        &self,
        paths: &BTreeSet<StorePath>,
        include_outputs: bool,
    ) -> Result<BTreeSet<StorePath>, StoreError> {
        self.with_conn(|c| {
            self.send(
                c,
                &ServeRequest::QueryClosure {
                    include_outputs,
                    paths: paths.clone(),
                },
            )?;
            serve::read_path_set_reply(&mut c.r, &self.dir).map_err(|e| self.lost(e))
        })
    }

    /// Adds `infos` in order (references first), without waiting for each answer: the
    /// NARs (written by `nar`) stream to the remote while a second thread collects its
    /// acknowledgements, so that neither side waits for the other between paths. `before`
    /// sees each path as it starts. Remotes older than 2.5 get one path at a time.
    pub fn add_nars(
        &self,
        infos: &[PathInfo],
        nar: &mut dyn FnMut(&PathInfo, &mut dyn Write) -> Result<(), StoreError>,
        before: &mut dyn FnMut(&PathInfo),
    ) -> Result<(), StoreError> {
        if infos.is_empty() {
            return Ok(());
        }
        if !self.version()?.at_least(5) {
            for info in infos {
                before(info);
                let mut buf = Vec::new();
                nar(info, &mut buf)?;
                self.add_nar(info, &mut &buf[..], false, false)?;
            }
            return Ok(());
        }
        self.with_conn(|c| {
            let Conn { r, w, ver, _child } = c;
            let ver = *ver;
            std::thread::scope(|s| {
                let acks = s.spawn(move || -> Result<(), StoreError> {
                    for info in infos {
                        if !serve::read_ack(r).map_err(|e| self.lost(e))? {
                            return Err(StoreError::Other(format!(
                                "failed to add path '{}' to remote host '{}'",
                                self.dir.display(&info.path),
                                self.host
                            )));
                        }
                    }
                    Ok(())
                });
                let sent = (|| -> Result<(), StoreError> {
                    for info in infos {
                        if info.nar_size == 0 {
                            return Err(StoreError::Other(format!(
                                "cannot send '{}' to '{}' without its NAR size",
                                self.dir.display(&info.path),
                                self.host
                            )));
                        }
                        before(info);
                        ServeRequest::AddToStoreNar(Box::new(info.clone()))
                            .write(&mut *w, ver, &self.dir)
                            .map_err(|e| self.lost(e))?;
                        let mut counted = Counted {
                            inner: &mut *w,
                            n: 0,
                        };
                        nar(info, &mut counted)?;
                        if counted.n != info.nar_size {
                            return Err(StoreError::Other(format!(
                                "the NAR of '{}' is {} bytes, not {} as its metadata says",
                                self.dir.display(&info.path),
                                counted.n,
                                info.nar_size
                            )));
                        }
                    }
                    w.flush()?;
                    Ok(())
                })();
                if sent.is_err() {
                    // The remote waits for the rest of an archive: end the session so that
                    // the reader sees the end of the stream.
                    let _ = _child.0.kill();
                }
                let acked = acks
                    .join()
                    .unwrap_or_else(|_| Err(StoreError::Other("reading answers failed".into())));
                sent.and(acked)
            })
        })
    }

    /// The host as the URI names it.
    pub fn host(&self) -> &str {
        &self.host
    }
}

impl Store for SshStore {
    fn dir(&self) -> &StoreDir {
        &self.dir
    }

    fn uri(&self) -> String {
        format!("ssh://{}", self.host)
    }

    fn add_text(
        &self,
        _name: &str,
        _text: &[u8],
        _refs: &BTreeSet<StorePath>,
    ) -> Result<StorePath, StoreError> {
        Err(self.unsupported("adding text"))
    }

    fn add_path(
        &self,
        _name: &str,
        _src: &Path,
        _method: Ingestion,
        _algo: HashAlgo,
        _filter: Filter<'_>,
    ) -> Result<StorePath, StoreError> {
        Err(self.unsupported("adding paths from the file system"))
    }

    fn add_from_dump(
        &self,
        _name: &str,
        _method: Ingestion,
        _algo: HashAlgo,
        _refs: &BTreeSet<StorePath>,
        _dump: &mut dyn Read,
        _repair: bool,
    ) -> Result<PathInfo, StoreError> {
        Err(self.unsupported("adding paths from a dump"))
    }

    /// `AddToStoreNar` (from 2.5), or an export stream of one path for older remotes. The
    /// remote does not check signatures, as Nix's does not.
    fn add_nar(
        &self,
        info: &PathInfo,
        nar: &mut dyn Read,
        repair: bool,
        _check_sigs: bool,
    ) -> Result<(), StoreError> {
        if repair {
            return Err(self.unsupported("repairing"));
        }
        if info.nar_size == 0 {
            return Err(StoreError::Other(format!(
                "cannot send '{}' to '{}' without its NAR size",
                self.dir.display(&info.path),
                self.host
            )));
        }
        self.with_conn(|c| {
            let sent = if c.ver.at_least(5) {
                ServeRequest::AddToStoreNar(Box::new(info.clone()))
                    .write(&mut c.w, c.ver, &self.dir)
                    .map_err(|e| self.lost(e))?;
                io::copy(&mut nar.take(info.nar_size), &mut c.w)?
            } else {
                ServeRequest::ImportPaths
                    .write(&mut c.w, c.ver, &self.dir)
                    .map_err(|e| self.lost(e))?;
                crate::codec::write_u64(&mut c.w, 1)?;
                let n = crate::copy_nar(nar, &mut c.w)?;
                ferrix_store::export::write_u64(&mut c.w, ferrix_store::export::EXPORT_MAGIC)?;
                crate::codec::write_path(&mut c.w, &self.dir, &info.path)?;
                crate::codec::write_paths(&mut c.w, &self.dir, &info.references)?;
                crate::codec::write_opt_path(&mut c.w, &self.dir, info.deriver.as_ref())?;
                crate::codec::write_u64(&mut c.w, 0)?;
                crate::codec::write_u64(&mut c.w, 0)?;
                n
            };
            if sent != info.nar_size {
                return Err(StoreError::Other(format!(
                    "the NAR of '{}' is {sent} bytes, not {} as its metadata says",
                    self.dir.display(&info.path),
                    info.nar_size
                )));
            }
            c.w.flush()?;
            if !serve::read_ack(&mut c.r).map_err(|e| self.lost(e))? {
                return Err(StoreError::Other(format!(
                    "failed to add path '{}' to remote host '{}'",
                    self.dir.display(&info.path),
                    self.host
                )));
            }
            Ok(())
        })
    }

    fn is_valid(&self, p: &StorePath) -> Result<bool, StoreError> {
        Ok(self
            .query_valid(&[p.clone()].into(), false, false)?
            .contains(p))
    }

    fn path_info(&self, p: &StorePath) -> Result<Option<PathInfo>, StoreError> {
        Ok(self
            .query_path_infos(&[p.clone()].into())?
            .into_iter()
            .find(|i| i.path == *p))
    }

    fn query_valid_paths(
        &self,
        paths: &BTreeSet<StorePath>,
    ) -> Result<BTreeSet<StorePath>, StoreError> {
        self.query_valid(paths, false, false)
    }

    /// The remote substitutes what it can, and keeps the paths for the session.
    fn query_valid_paths_substituting(
        &self,
        paths: &BTreeSet<StorePath>,
    ) -> Result<Option<BTreeSet<StorePath>>, StoreError> {
        self.query_valid(paths, true, true).map(Some)
    }

    /// In one `ImportPaths` (or a stream of `AddToStoreNar`), as [`SshStore::add_nars`].
    fn add_nars_from(
        &self,
        infos: &[PathInfo],
        from: &(dyn Store + Sync),
        each: &mut dyn FnMut(&PathInfo),
    ) -> Result<(), StoreError> {
        self.add_nars(infos, &mut |i, w| from.nar_from_path(&i.path, w), each)
    }

    fn query_all_valid(&self) -> Result<BTreeSet<StorePath>, StoreError> {
        Err(self.unsupported("listing all valid paths"))
    }

    fn referrers(&self, _p: &StorePath) -> Result<BTreeSet<StorePath>, StoreError> {
        Err(self.unsupported("querying referrers"))
    }

    fn valid_derivers(&self, _p: &StorePath) -> Result<BTreeSet<StorePath>, StoreError> {
        Err(self.unsupported("querying derivers"))
    }

    fn path_from_hash_part(&self, _hash: &str) -> Result<Option<StorePath>, StoreError> {
        Err(self.unsupported("queryPathFromHashPart"))
    }

    fn nar_from_path(&self, p: &StorePath, out: &mut dyn Write) -> Result<(), StoreError> {
        self.with_conn(|c| {
            self.send(c, &ServeRequest::DumpStorePath(p.clone()))?;
            crate::copy_nar(&mut c.r, out).map_err(|e| match e {
                WireError::Eof => StoreError::Other(format!(
                    "cannot read the NAR of '{}' from '{}' (see the remote's error above)",
                    self.dir.display(p),
                    self.host
                )),
                e => e.into(),
            })?;
            Ok(())
        })
    }

    fn real_path(&self, p: &StorePath) -> PathBuf {
        PathBuf::from(self.dir.display(p))
    }

    /// Read through the remote (its `.drv` is not on this machine).
    fn read_derivation(&self, p: &StorePath) -> Result<Derivation, StoreError> {
        let mut nar = Vec::new();
        self.nar_from_path(p, &mut nar)?;
        let text = ferrix_store::nar::regular_contents(&nar).ok_or_else(|| {
            StoreError::Other(format!("'{}' is not a regular file", self.dir.display(p)))
        })?;
        Derivation::parse(&text).map_err(|e| {
            StoreError::Other(format!(
                "error parsing derivation '{}': {e}",
                self.dir.display(p)
            ))
        })
    }

    /// What building `targets` on the remote takes, as far as the remote's store tells:
    /// derivations with wanted outputs that are not valid (and so on through their input
    /// derivations); invalid plain paths are unknown (the protocol says nothing of
    /// substitutes).
    fn query_missing(&self, targets: &[DerivedPath]) -> Result<Missing, StoreError> {
        let mut m = Missing::default();
        let mut todo: Vec<(StorePath, Option<BTreeSet<String>>)> = Vec::new();
        let mut plain = BTreeSet::new();
        for t in targets {
            match t {
                DerivedPath::Opaque(p) => {
                    plain.insert(p.clone());
                }
                DerivedPath::Built { drv, outputs } => todo.push((
                    drv.clone(),
                    match outputs {
                        OutputsSpec::All => None,
                        OutputsSpec::Names(n) => Some(n.clone()),
                    },
                )),
            }
        }
        let valid = self.query_valid_paths(&plain)?;
        m.unknown = plain.difference(&valid).cloned().collect();
        let mut seen = BTreeSet::new();
        while let Some((drv, wanted)) = todo.pop() {
            if !seen.insert(drv.clone()) {
                continue;
            }
            if !self.is_valid(&drv)? {
                m.unknown.insert(drv);
                continue;
            }
            let d = self.read_derivation(&drv)?;
            let mut outs = BTreeSet::new();
            for (name, o) in &d.outputs {
                let name = String::from_utf8_lossy(name);
                if wanted.as_ref().is_some_and(|w| !w.contains(name.as_ref())) {
                    continue;
                }
                if !o.path.is_empty() {
                    outs.insert(self.dir.parse(&String::from_utf8_lossy(&o.path))?);
                }
            }
            if self.query_valid_paths(&outs)?.len() == outs.len() && !outs.is_empty() {
                continue;
            }
            m.will_build.insert(drv);
            for (input, names) in &d.input_drvs {
                let ip = self.dir.parse(&String::from_utf8_lossy(input))?;
                let names = names
                    .iter()
                    .map(|n| String::from_utf8_lossy(n).into_owned())
                    .collect();
                todo.push((ip, Some(names)));
            }
        }
        Ok(m)
    }

    fn build_paths(&self, targets: &[DerivedPath], mode: BuildMode) -> Result<(), StoreError> {
        if mode != BuildMode::Normal {
            return Err(self.unsupported("repairing or checking builds"));
        }
        let mut paths = Vec::new();
        for t in targets {
            if let DerivedPath::Opaque(p) = t {
                if p.is_derivation() {
                    return Err(StoreError::Other(format!(
                        "wanted to fetch '{}' but the legacy ssh protocol doesn't support merely substituting drv files via the build paths command. It would build them instead. Try using ssh-ng://",
                        self.dir.display(p)
                    )));
                }
            }
            paths.push(convert::to_wire_derived_path(t));
        }
        let reply = self.with_conn(|c| {
            self.send(
                c,
                &ServeRequest::BuildPaths {
                    paths,
                    settings: self.opts.build_settings,
                },
            )?;
            BuildPathsReply::read(&mut c.r).map_err(|e| self.lost(e))
        })?;
        match reply {
            BuildPathsReply::Ok => Ok(()),
            BuildPathsReply::Failed { status, msg } => Err(StoreError::Build {
                msg: String::from_utf8_lossy(&msg).into_owned(),
                status: i32::try_from(status).unwrap_or(1),
            }),
        }
    }

    fn build_derivation(
        &self,
        drv_path: &StorePath,
        drv: &Derivation,
        mode: BuildMode,
    ) -> Result<BuildResult, StoreError> {
        if mode != BuildMode::Normal {
            return Err(self.unsupported("repairing or checking builds"));
        }
        let basic = BasicDerivation::from_derivation(drv, &self.dir)?;
        let r = self.with_conn(|c| {
            self.send(
                c,
                &ServeRequest::BuildDerivation {
                    drv_path: drv_path.clone(),
                    drv: basic,
                    settings: self.opts.build_settings,
                },
            )?;
            serve::read_build_result(&mut c.r, c.ver).map_err(|e| self.lost(e))
        })?;
        convert::from_wire_build_result(&r)
    }
}
