//! One client connection of the worker protocol: the greeting, then operation after
//! operation against the local store, with the log tunnelled to the client.

use crate::latency::CoSchedule;
use ferrix_builder::realiser::LocalRealiser;
use ferrix_builder::BuildSettings;
use ferrix_store::local::{LocalConfig, LocalStore, Log};
use ferrix_store::lock::Deferred;
use ferrix_store::path::{Ingestion, StoreDir, StorePath};
use ferrix_store::settings::{MaxJobs, Origin, Settings};
use ferrix_store::store::{BuildMode, DerivedPath, Store, StoreError};
use ferrix_store::{HashAlgo, PathInfo};
use ferrix_wire::codec::{read_bytes_max, read_u64};
use ferrix_wire::convert;
use ferrix_wire::{
    AddToStore, CaMethod, ClientSettings, Field, FramedReader, KeyedBuildResult, Payload,
    RemoteError, Reply, Request, StderrMsg, Verbosity, Version, WireError,
};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufReader, Read, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// The Nix version the daemon announces (protocol 1.33 and later ask for it).
pub const NIX_VERSION: &str = "2.8.0";

/// Why a connection ended early.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// What the connection needs from the daemon.
pub struct Context {
    /// The daemon's own settings (its `nix.conf`); clients adjust a copy with
    /// `SetOptions`.
    pub settings: Settings,
    /// The local store every connection opens.
    pub store: LocalConfig,
    /// Whether the client is in `trusted-users`.
    pub trusted: bool,
    /// The client's user name and uid, when known: it gets its own directories under
    /// `profiles/per-user` and `gcroots/per-user`, as with Nix's daemon.
    pub user: Option<(String, u32)>,
    /// Serving a recursive Nix build's socket: the store is seen through
    /// [`crate::recursive::Restricted`], and the client's settings are not applied (as in
    /// Nix).
    pub recursive: Option<Arc<ferrix_builder::recursive::Recursive>>,
    /// The client's process, when this connection has a process of its own that may run on
    /// the client's CPU during short operations ([`crate::latency`]).
    pub co_schedule: Option<i32>,
    /// Shared with the connection's [`crate::latency::SpinRead`], when it has one: the
    /// daemon's other connections, and whether the last operation was an addition.
    pub link: Option<crate::latency::Link>,
}

/// The side channel to the client: log lines, activity messages and errors, each sent while
/// the client waits for an operation to finish, and held back otherwise (as Nix's tunnel
/// logger does).
struct Tunnel {
    out: Box<dyn Write + Send>,
    ver: Version,
    can_send: bool,
    pending: Vec<StderrMsg>,
    /// The client's verbosity: messages above it are dropped.
    verbosity: Verbosity,
    /// Whether build output goes to the client (`verbose-build`).
    build_output: bool,
    /// A write failed: the client is gone.
    broken: bool,
    /// The store directory, for the paths in activity fields.
    dir: StoreDir,
}

type Shared = Arc<Mutex<Tunnel>>;

fn lock(t: &Shared) -> MutexGuard<'_, Tunnel> {
    t.lock().unwrap_or_else(|p| p.into_inner())
}

impl Tunnel {
    fn send(&mut self, m: &StderrMsg) {
        if self.broken {
            return;
        }
        if m.write(&mut self.out, self.ver).is_err() || self.out.flush().is_err() {
            self.broken = true;
        }
    }

    fn log(&mut self, level: Verbosity, line: &[u8]) {
        if level > self.verbosity {
            return;
        }
        let mut text = line.to_vec();
        text.push(b'\n');
        self.emit(StderrMsg::Next(text));
    }

    /// Sends `m` now, or when the client next waits for an operation.
    fn emit(&mut self, m: StderrMsg) {
        if self.can_send {
            self.send(&m);
        } else {
            self.pending.push(m);
        }
    }

    fn start_work(&mut self) {
        self.can_send = true;
        for m in std::mem::take(&mut self.pending) {
            self.send(&m);
        }
    }

    /// Ends an operation: `Last`, or the error. The caller flushes (after the reply).
    fn stop_work(&mut self, err: Option<&StoreError>) -> io::Result<()> {
        self.can_send = false;
        let m = match err {
            None => StderrMsg::Last,
            Some(e) => {
                let status = match e {
                    StoreError::Build { status, .. } => *status as u32,
                    _ => 1,
                };
                StderrMsg::Error(RemoteError {
                    status,
                    ..RemoteError::new(e.to_string())
                })
            }
        };
        m.write(&mut self.out, self.ver).map_err(wire_io)
    }

    /// Ends an operation with an error, sent at once.
    fn fail_work(&mut self, err: &StoreError) -> io::Result<()> {
        self.stop_work(Some(err))?;
        self.out.flush()
    }
}

fn wire_io(e: WireError) -> io::Error {
    match e {
        WireError::Io(e) => e,
        e => io::Error::other(e.to_string()),
    }
}

fn fail(msg: impl Into<String>) -> StoreError {
    StoreError::Other(msg.into())
}

/// What an operation answers after its log.
enum Response {
    Reply(Reply),
    /// `NarFromPath`: the archive itself.
    Nar(StorePath),
}

/// Serves one client on `input`/`output` until it hangs up. The greeting comes first; an
/// error before the first operation (the store cannot be opened) is sent to the client.
/// `on_version` learns the protocol version once it is agreed (for the out-of-memory
/// message).
pub fn serve(
    input: impl Read,
    mut output: impl Write + Send + 'static,
    ctx: &Context,
    on_version: &mut dyn FnMut(Version),
) -> Result<(), ConnError> {
    let mut r = BufReader::with_capacity(1 << 16, input);
    let info = ferrix_wire::server_handshake(&mut r, &mut output, Version::CURRENT, NIX_VERSION)?;
    let ver = info.version;
    on_version(ver);
    let tunnel: Shared = Arc::new(Mutex::new(Tunnel {
        out: Box::new(io::BufWriter::with_capacity(1 << 16, output)),
        ver,
        can_send: false,
        pending: Vec::new(),
        verbosity: Verbosity::INFO,
        build_output: true,
        broken: false,
        dir: StoreDir::new(ctx.store.store_dir.as_str()),
    }));
    if ctx.recursive.is_none() {
        ferrix_builder::set_output(Box::new(sink(&tunnel)));
        // Builds run here may use recursive Nix, served with these settings.
        crate::recursive::install(ctx.settings.clone());
    } else {
        // A recursive call shares its process with other builds: only the builds this
        // connection starts (in this thread and those it starts) report to its client.
        ferrix_builder::set_thread_output(Some(Arc::new(sink(&tunnel))));
    }

    lock(&tunnel).start_work();
    let store = match open_store(ctx) {
        Ok(s) => s,
        Err(e) => {
            lock(&tunnel).fail_work(&e)?;
            return Ok(());
        }
    };
    {
        let mut t = lock(&tunnel);
        t.stop_work(None)?;
        t.out.flush()?;
    }
    let realiser = Arc::new(LocalRealiser::new(build_settings(
        &ctx.settings,
        &ctx.store,
        true,
    )));
    store.set_realiser(realiser.clone());
    let mut conn = Conn {
        r,
        tunnel: tunnel.clone(),
        store,
        realiser,
        ctx,
        ver,
    };
    let mut co = ctx
        .co_schedule
        .and_then(CoSchedule::new)
        .map(|c| match &ctx.link {
            Some(l) => c.with_link(l.clone()),
            None => c,
        });
    loop {
        let code = match read_u64(&mut conn.r) {
            Ok(c) => c,
            Err(WireError::Eof) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let dir = conn.store.dir().clone();
        let mut adds = false;
        let req = match ferrix_wire::op::Op::from_code(code).and_then(|op| {
            if let Some(co) = &mut co {
                co.before(op);
            }
            // One path and its lock, taken once.
            adds = crate::latency::is_addition(op);
            Request::read_args(&mut conn.r, op, ver, &dir)
        }) {
            Ok(req) => req,
            Err(e) => {
                // The stream is out of step: say why and hang up.
                lock(&tunnel).fail_work(&StoreError::Other(e.to_string()))?;
                return Err(e.into());
            }
        };
        lock(&tunnel).start_work();
        let payload = req.payload(ver);
        let started = Instant::now();
        // An addition's path lock is released after its answer is on its way.
        let unlock_later = if adds { Deferred::begin() } else { None };
        let res = conn.perform(req);
        if lock(&tunnel).broken {
            return Ok(());
        }
        match res {
            Ok(Response::Reply(reply)) => {
                let mut t = lock(&tunnel);
                t.stop_work(None)?;
                reply.write(&mut t.out, ver, &dir).map_err(wire_io)?;
                t.out.flush()?;
            }
            Ok(Response::Nar(p)) => {
                let mut t = lock(&tunnel);
                t.stop_work(None)?;
                conn.view().get().nar_from_path(&p, &mut t.out)?;
                t.out.flush()?;
            }
            Err(e) => {
                lock(&tunnel).fail_work(&e)?;
                // An error in the middle of a payload leaves the stream out of step.
                if payload != Payload::None && !matches!(e, StoreError::Unsupported(_)) {
                    return Ok(());
                }
            }
        }
        if let Some(d) = unlock_later {
            d.release();
        }
        if let Some(co) = &mut co {
            co.after(started.elapsed());
        }
    }
}

/// The builder's output and the store's messages go to the client: each build as an
/// activity whose log lines are its results (for clients of 1.20 and later; older ones get
/// plain lines).
fn sink(tunnel: &Shared) -> impl Fn(ferrix_builder::Output<'_>) + Send + Sync {
    let t = tunnel.clone();
    let activities: Mutex<BTreeMap<StorePath, u64>> = Mutex::new(BTreeMap::new());
    let next_id = std::sync::atomic::AtomicU64::new(1);
    let base = u64::from(std::process::id()) << 32;
    move |o| {
        let mut t = lock(&t);
        let modern = t.ver.at_least(20);
        let mut acts = activities.lock().unwrap_or_else(|p| p.into_inner());
        match o {
            ferrix_builder::Output::Message(m) => t.log(Verbosity::INFO, m.as_bytes()),
            ferrix_builder::Output::Error(m) => {
                t.log(Verbosity::ERROR, ferrix_builder::error_text(m).as_bytes())
            }
            ferrix_builder::Output::BuildStart {
                drv,
                text,
                round,
                rounds,
            } => {
                if !modern {
                    t.log(Verbosity::INFO, format!("{text}...").as_bytes());
                    return;
                }
                let id = base | next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                acts.insert(drv.clone(), id);
                let drv_text = t.dir.display(drv);
                t.emit(StderrMsg::StartActivity {
                    id,
                    level: Verbosity::INFO,
                    kind: ferrix_wire::ActivityType::Build,
                    text: text.as_bytes().to_vec(),
                    fields: vec![
                        Field::String(drv_text.into_bytes()),
                        Field::String(Vec::new()),
                        Field::Int(round),
                        Field::Int(rounds),
                    ],
                    parent: 0,
                });
            }
            ferrix_builder::Output::BuildLine(drv, line) => {
                if !t.build_output {
                    return;
                }
                match acts.get(drv) {
                    Some(&id) if modern => t.emit(StderrMsg::Result {
                        id,
                        kind: ferrix_wire::ResultType::BuildLogLine,
                        fields: vec![Field::String(line.to_vec())],
                    }),
                    _ => t.log(Verbosity::ERROR, line),
                }
            }
            ferrix_builder::Output::BuildStop(drv) => {
                if let Some(id) = acts.remove(drv) {
                    t.emit(StderrMsg::StopActivity { id });
                }
            }
            // Progress is for a terminal of this process; the client has its own.
            ferrix_builder::Output::Download { .. }
            | ferrix_builder::Output::DownloadDone(_)
            | ferrix_builder::Output::Copied { .. } => {}
        }
    }
}

fn open_store(ctx: &Context) -> Result<LocalStore, StoreError> {
    let store = LocalStore::open(ctx.store.clone())?;
    if let Some((name, uid)) = &ctx.user {
        create_user_dirs(&ctx.store.state_dir, name, *uid)?;
    }
    store.set_signature_policy(
        ctx.settings.require_sigs,
        ctx.settings.trusted_public_keys.clone(),
    );
    store.set_gc_policy(gc_policy(&ctx.settings));
    store.set_auto_optimise(ctx.settings.auto_optimise_store);
    store.set_ca_derivations(ctx.settings.has_experimental("ca-derivations"));
    store.set_auto_gc_policy(ferrix_store::autogc::AutoGcPolicy {
        min_free: ctx.settings.min_free,
        max_free: ctx.settings.max_free,
        check_interval: std::time::Duration::from_secs(ctx.settings.min_free_check_interval),
    });
    Ok(store)
}

/// `profiles/per-user/NAME` and `gcroots/per-user/NAME`, owned by the user.
fn create_user_dirs(state: &std::path::Path, name: &str, uid: u32) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    for d in ["profiles", "gcroots"] {
        let dir = state.join(d).join("per-user").join(name);
        std::fs::create_dir_all(&dir)
            .map_err(|e| StoreError::io(format!("creating directory '{}'", dir.display()), &e))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
        std::os::unix::fs::chown(&dir, Some(uid), Some(nix::unistd::getgid().as_raw())).map_err(
            |e| {
                StoreError::io(
                    format!("changing owner of directory '{}'", dir.display()),
                    &e,
                )
            },
        )?;
    }
    Ok(())
}

/// `keep-outputs` and `keep-derivations` of `s`, for the garbage collector.
fn gc_policy(s: &Settings) -> ferrix_store::gc::GcPolicy {
    ferrix_store::gc::GcPolicy {
        keep_outputs: s.keep_outputs,
        keep_derivations: s.keep_derivations,
    }
}

/// The build settings of `s` for builds the daemon runs: the client prints what will be
/// built itself, and a failed build's error carries the end of its log, as Nix's daemon
/// sends it.
fn build_settings(s: &Settings, store: &LocalConfig, build_output: bool) -> BuildSettings {
    let mut b = BuildSettings::from_settings(s);
    // A store that names its system features (`DIR?system-features=…`) builds with those.
    if let Some(f) = &store.system_features {
        b.system_features = f.clone();
    }
    b.print_missing = false;
    b.print_build_output = build_output;
    b.log_tail_in_errors = true;
    b
}

/// Applies a client's `SetOptions` to a copy of the daemon's settings, as Nix 2.8 does:
/// the fixed fields always, overrides only from trusted clients, except `timeout`, `repeat`,
/// `connect-timeout`, an empty `builders` and substituters the daemon already trusts.
pub fn apply_client_settings(
    base: &Settings,
    cs: &ClientSettings,
    trusted: bool,
    warn: &mut dyn FnMut(String),
) -> Settings {
    let mut s = base.clone();
    s.keep_failed = cs.keep_failed;
    s.keep_going = cs.keep_going;
    s.fallback = cs.try_fallback;
    s.max_jobs = MaxJobs(cs.max_build_jobs as usize);
    s.max_silent_time = i64::from(cs.max_silent_time);
    s.cores = u64::from(cs.build_cores);
    s.substitute = cs.use_substitutes;
    for (name, value) in &cs.overrides {
        let r = if name == "ssh-auth-sock" || name == "experimental-features" {
            Ok(())
        } else if trusted
            || name == "timeout"
            || name == "repeat"
            || name == "connect-timeout"
            || (name == "builders" && value.is_empty())
        {
            s.set(name, value, Origin::User)
        } else if name == "substituters" || name == "binary-caches" {
            let known: BTreeSet<&String> = base
                .trusted_substituters
                .iter()
                .chain(base.substituters.iter())
                .collect();
            let mut subs = Vec::new();
            for u in value.split_whitespace() {
                let u = u.to_string();
                if known.contains(&u) {
                    subs.push(u);
                } else if !u.ends_with('/') && known.contains(&format!("{u}/")) {
                    subs.push(format!("{u}/"));
                } else {
                    warn(format!("ignoring untrusted substituter '{u}'"));
                }
            }
            s.substituters = subs;
            Ok(())
        } else {
            // Nix says so only at debug level.
            Ok(())
        };
        if let Err(e) = r {
            warn(e.to_string());
        }
    }
    s
}

struct Conn<'c, R> {
    r: BufReader<R>,
    tunnel: Shared,
    store: LocalStore,
    realiser: Arc<LocalRealiser>,
    ctx: &'c Context,
    ver: Version,
}

/// Reads what the server asks for with `STDERR_READ`, as clients of 1.21 and 1.22 send NARs
/// and as `ImportPaths` sends its stream.
struct TunnelSource<'a, R> {
    r: &'a mut R,
    tunnel: &'a Shared,
    buf: Vec<u8>,
    pos: usize,
}

impl<R: Read> Read for TunnelSource<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if self.pos == self.buf.len() {
            let want = out.len().min(1 << 16) as u64;
            lock(self.tunnel).send(&StderrMsg::Read(want));
            self.buf = read_bytes_max(self.r, want).map_err(wire_io)?;
            self.pos = 0;
            if self.buf.is_empty() {
                return Ok(0);
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Sends what is written as `STDERR_WRITE` messages (`ExportPath`).
struct TunnelSink<'a> {
    tunnel: &'a Shared,
}

impl Write for TunnelSink<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut t = lock(self.tunnel);
        t.send(&StderrMsg::Write(data.to_vec()));
        if t.broken {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "client hung up"));
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The store a connection serves: the local store, or its restricted view for a recursive
/// Nix build.
enum View<'a> {
    Local(&'a LocalStore),
    Restricted(crate::recursive::Restricted<'a>),
}

impl View<'_> {
    fn get(&self) -> &dyn Store {
        match self {
            View::Local(s) => *s,
            View::Restricted(r) => r,
        }
    }
}

fn view<'a>(store: &'a LocalStore, ctx: &'a Context) -> View<'a> {
    match &ctx.recursive {
        None => View::Local(store),
        Some(state) => View::Restricted(crate::recursive::Restricted {
            inner: store,
            state,
        }),
    }
}

impl<R: Read> Conn<'_, R> {
    fn dir(&self) -> &StoreDir {
        self.store.dir()
    }

    fn view(&self) -> View<'_> {
        view(&self.store, self.ctx)
    }

    fn trusted(&self) -> bool {
        self.ctx.trusted
    }

    fn perform(&mut self, req: Request) -> Result<Response, StoreError> {
        use Reply as Y;
        let ctx = self.ctx;
        let v = view(&self.store, ctx);
        let store = v.get();
        let reply = match req {
            Request::IsValidPath(p) => Y::Bool(store.is_valid(&p)?),
            Request::HasSubstitutes(p) => {
                Y::Bool(!store.query_substitutable(&[p].into())?.is_empty())
            }
            Request::QuerySubstitutablePaths(ps) => {
                Y::PathSet(store.query_substitutable(&ps)?.into_keys().collect())
            }
            Request::QuerySubstitutablePathInfo(p) => Y::SubstitutablePathInfo(
                store
                    .query_substitutable(&[p].into())?
                    .into_values()
                    .next()
                    .map(substitutable_info),
            ),
            Request::QuerySubstitutablePathInfos(ps) => Y::SubstitutablePathInfos(
                store
                    .query_substitutable(&ps.into_keys().collect())?
                    .into_iter()
                    .map(|(p, i)| (p, substitutable_info(i)))
                    .collect(),
            ),
            Request::QueryPathHash(p) => Y::Text(store.query_path_info(&p)?.nar_hash.to_base16()),
            Request::QueryReferences(p) => Y::PathSet(store.query_path_info(&p)?.references),
            Request::QueryReferrers(p) => Y::PathSet(store.referrers(&p)?),
            Request::QueryValidDerivers(p) => Y::PathSet(store.valid_derivers(&p)?),
            Request::QueryDeriver(p) => Y::OptPath(store.query_path_info(&p)?.deriver),
            Request::QueryDerivationOutputs(p) => {
                Y::PathSet(store.derivation_output_paths(&p)?.into_values().collect())
            }
            Request::QueryDerivationOutputNames(p) => {
                Y::StringSet(store.derivation_output_map(&p)?.into_keys().collect())
            }
            Request::QueryDerivationOutputMap(p) => Y::OutputMap(store.derivation_output_map(&p)?),
            Request::QueryAllValidPaths => Y::PathSet(store.query_all_valid()?),
            Request::QueryPathInfo(p) => match store.path_info(&p)? {
                Some(i) => Y::PathInfo(Some(Box::new(i))),
                None if self.ver.at_least(17) => Y::PathInfo(None),
                None => {
                    return Err(fail(format!(
                        "path '{}' is not valid",
                        self.dir().display(&p)
                    )))
                }
            },
            Request::QueryPathFromHashPart(h) => Y::OptPath(store.path_from_hash_part(&h)?),
            Request::QueryValidPaths { paths, .. } => Y::PathSet(store.query_valid_paths(&paths)?),
            Request::QueryMissing(paths) => {
                let targets: Vec<DerivedPath> = paths.iter().map(convert::derived_path).collect();
                Y::Missing(convert::missing(store.query_missing(&targets)?))
            }
            Request::QueryRealisation(id) => {
                let id = ferrix_store::realisation::DrvOutput::parse(&id)
                    .map_err(|e| StoreError::Other(e.to_string()))?;
                let found = store.query_realisation(&id)?;
                if self.ver.at_least(31) {
                    Y::Realisations(found.iter().map(|r| r.to_json()).collect())
                } else {
                    Y::PathSet(found.into_iter().map(|r| r.out_path).collect())
                }
            }
            Request::RegisterDrvOutput(r) => {
                use ferrix_store::realisation::{DrvOutput, Realisation};
                let real = match r {
                    ferrix_wire::RegisterDrvOutput::Realisation(json) => {
                        Realisation::from_json(&json, "the client's realisation")
                            .map_err(|e| StoreError::Other(e.to_string()))?
                    }
                    ferrix_wire::RegisterDrvOutput::Legacy { id, out_path } => Realisation::new(
                        DrvOutput::parse(&id).map_err(|e| StoreError::Other(e.to_string()))?,
                        out_path,
                    ),
                };
                // What an untrusted client claims was built from what must carry a
                // signature by a trusted key.
                if !self.trusted() {
                    let keys = &self.ctx.settings.trusted_public_keys;
                    let fp = real.fingerprint();
                    if !real
                        .signatures
                        .iter()
                        .any(|s| ferrix_store::sigs::verify(&fp, s, keys))
                    {
                        return Err(StoreError::Other(format!(
                            "cannot register realisation '{}' because it lacks a valid signature",
                            real.out_path.base_name()
                        )));
                    }
                }
                store.register_drv_output(&real)?;
                Y::Nothing
            }
            Request::SetOptions(cs) => {
                self.set_options(&cs);
                Y::Nothing
            }
            Request::AddTextToStore {
                name,
                text,
                references,
            } => Y::Path(store.add_text(&name, &text, &references)?),
            Request::AddToStore(a) => return self.add_to_store(a),
            Request::AddToStoreNar {
                info,
                repair,
                dont_check_sigs,
            } => {
                if repair && !self.trusted() {
                    return Err(fail(
                        "repairing is not allowed because you are not in 'trusted-users'",
                    ));
                }
                let check_sigs = !(self.trusted() && dont_check_sigs);
                let ver = self.ver;
                if ver.at_least(23) {
                    let mut f = FramedReader::new(&mut self.r);
                    let res = store.add_nar(&info, &mut f, repair, check_sigs);
                    // Keep the stream in step whatever happened.
                    f.drain()?;
                    res?;
                } else if ver.at_least(21) {
                    let mut src = TunnelSource {
                        r: &mut self.r,
                        tunnel: &self.tunnel,
                        buf: Vec::new(),
                        pos: 0,
                    };
                    store.add_nar(&info, &mut src, repair, check_sigs)?;
                } else {
                    store.add_nar(&info, &mut self.r, repair, check_sigs)?;
                }
                Y::Nothing
            }
            Request::AddMultipleToStore {
                repair,
                dont_check_sigs,
            } => {
                if repair && !self.trusted() {
                    return Err(fail(
                        "repairing is not allowed because you are not in 'trusted-users'",
                    ));
                }
                let check_sigs = !(self.trusted() && dont_check_sigs);
                let dir = self.dir().clone();
                let mut f = FramedReader::new(&mut self.r);
                let res = (|| -> Result<(), StoreError> {
                    let n = read_u64(&mut f)?;
                    for _ in 0..n {
                        let info =
                            ferrix_wire::read_path_info(&mut f, &dir, Version::new(1, 16), None)?;
                        store.add_nar(&info, &mut f, repair, check_sigs)?;
                    }
                    Ok(())
                })();
                f.drain()?;
                res?;
                Y::Nothing
            }
            Request::ImportPaths => {
                let check_sigs = !self.trusted();
                let mut src = TunnelSource {
                    r: &mut self.r,
                    tunnel: &self.tunnel,
                    buf: Vec::new(),
                    pos: 0,
                };
                let paths = ferrix_store::export::import_paths_checked(
                    store,
                    &mut src,
                    check_sigs,
                    &mut |_| {},
                )?;
                Y::PathList(paths)
            }
            Request::ExportPath(p) => {
                let mut sink = TunnelSink {
                    tunnel: &self.tunnel,
                };
                ferrix_store::export::export_paths(store, &[p].into(), &mut sink)?;
                Y::Ack
            }
            Request::NarFromPath(p) => {
                if !store.is_valid(&p)? {
                    return Err(fail(format!(
                        "path '{}' is not valid",
                        self.dir().display(&p)
                    )));
                }
                return Ok(Response::Nar(p));
            }
            Request::BuildPaths { paths, mode } => {
                let mode = self.build_mode(mode)?;
                let targets: Vec<DerivedPath> = paths.iter().map(convert::derived_path).collect();
                store.build_paths(&targets, mode)?;
                Y::Ack
            }
            Request::BuildPathsWithResults { paths, mode } => {
                let mode = self.build_mode(mode)?;
                let mut results = Vec::new();
                for p in paths {
                    let t = convert::derived_path(&p);
                    let r = match store.build_paths(std::slice::from_ref(&t), mode) {
                        Ok(()) => {
                            ferrix_wire::BuildResult::new(ferrix_wire::BuildStatus::Built, "")
                        }
                        Err(e) => ferrix_wire::BuildResult::new(
                            convert::failure_status(&e),
                            e.to_string(),
                        ),
                    };
                    results.push(KeyedBuildResult { path: p, result: r });
                }
                Y::BuildResults(results)
            }
            Request::BuildDerivation {
                drv_path,
                drv,
                mode,
            } => {
                let mode = self.build_mode(mode)?;
                let drv = drv.to_derivation(self.dir());
                // Nix lets untrusted users build only content-addressed derivations; Ferrix
                // builds derivations from the store, whose outputs the store checked.
                if !self.trusted() && !store.is_valid(&drv_path)? {
                    return Err(fail(
                        "you are not privileged to build input-addressed derivations",
                    ));
                }
                let r = store.build_derivation(&drv_path, &drv, mode)?;
                Y::BuildResult(convert::build_result(&r))
            }
            Request::EnsurePath(p) => {
                store.ensure_path(&p)?;
                Y::Ack
            }
            Request::AddTempRoot(p) => {
                store.add_temp_root(&p)?;
                Y::Ack
            }
            Request::AddIndirectRoot(link) => {
                use std::os::unix::ffi::OsStrExt;
                store
                    .add_indirect_root(std::path::Path::new(std::ffi::OsStr::from_bytes(&link)))?;
                Y::Ack
            }
            Request::SyncWithGC => Y::Ack,
            Request::FindRoots => {
                let mut roots = Vec::new();
                for (p, links) in store.find_roots(!self.trusted())? {
                    for l in links {
                        roots.push((l.into_bytes(), p.clone()));
                    }
                }
                Y::Roots(roots)
            }
            Request::CollectGarbage(o) => {
                if o.ignore_liveness && !self.trusted() {
                    return Err(fail("you are not allowed to ignore liveness"));
                }
                let r = store.collect_garbage(&convert::gc_options(&o))?;
                Y::Gc(ferrix_wire::GcResult {
                    paths: r.paths.into_iter().map(String::into_bytes).collect(),
                    bytes_freed: r.bytes_freed,
                })
            }
            Request::OptimiseStore => {
                store.optimise_store()?;
                Y::Ack
            }
            Request::VerifyStore {
                check_contents,
                repair,
            } => {
                if repair && !self.trusted() {
                    return Err(fail("you are not privileged to repair paths"));
                }
                Y::Bool(store.verify_store(check_contents, repair)?)
            }
            Request::AddSignatures { path, sigs } => {
                if !self.trusted() {
                    return Err(fail("you are not privileged to add signatures"));
                }
                let sigs: Vec<String> = sigs.into_iter().collect();
                store.add_signatures(&path, &sigs)?;
                Y::Ack
            }
            Request::AddBuildLog(drv) => {
                let mut f = FramedReader::new(&mut self.r);
                let mut log = Vec::new();
                let res = f.read_to_end(&mut log);
                f.drain()?;
                res?;
                if !self.trusted() {
                    return Err(fail("you are not privileged to add logs"));
                }
                store.add_build_log(&drv, &log)?;
                Y::Ack
            }
        };
        Ok(Response::Reply(reply))
    }

    fn build_mode(&self, mode: ferrix_wire::BuildMode) -> Result<BuildMode, StoreError> {
        let mode = convert::build_mode(mode);
        if mode == BuildMode::Repair && !self.trusted() {
            return Err(fail(
                "repairing is not allowed because you are not in 'trusted-users'",
            ));
        }
        Ok(mode)
    }

    fn set_options(&mut self, cs: &ClientSettings) {
        let tunnel = self.tunnel.clone();
        let s = apply_client_settings(&self.ctx.settings, cs, self.trusted(), &mut |w| {
            lock(&tunnel).log(Verbosity::WARN, format!("warning: {w}").as_bytes())
        });
        {
            let mut t = lock(&self.tunnel);
            t.verbosity = cs.verbosity;
            t.build_output = cs.verbose_build;
        }
        let tunnel = self.tunnel.clone();
        self.store.set_logger(Arc::new(move |m| {
            let (level, text) = match m {
                Log::Info(t) => (Verbosity::INFO, t),
                Log::Error(t) => (Verbosity::ERROR, t),
                Log::PrefixedError(t) => (Verbosity::ERROR, format!("error: {t}")),
                Log::Warn(t) => (Verbosity::WARN, format!("warning: {t}")),
            };
            lock(&tunnel).log(level, text.as_bytes());
        }));
        if self.ctx.recursive.is_some() {
            // A recursive call builds with the settings of the build it is part of.
            return;
        }
        self.store
            .set_signature_policy(s.require_sigs, s.trusted_public_keys.clone());
        self.store.set_gc_policy(gc_policy(&s));
        self.realiser
            .set_settings(build_settings(&s, &self.ctx.store, cs.verbose_build));
    }

    fn add_to_store(&mut self, a: AddToStore) -> Result<Response, StoreError> {
        let method = a.method()?;
        let v = view(&self.store, self.ctx);
        let store = v.get();
        match a {
            AddToStore::Ca {
                name,
                references,
                repair,
                ..
            } => {
                if repair && !self.trusted() {
                    let mut f = FramedReader::new(&mut self.r);
                    f.drain()?;
                    return Err(fail(
                        "repairing is not allowed because you are not in 'trusted-users'",
                    ));
                }
                let mut f = FramedReader::new(&mut self.r);
                let res = match method {
                    CaMethod::Text => {
                        let mut text = Vec::new();
                        match f.read_to_end(&mut text) {
                            Ok(_) => store
                                .add_text(&name, &text, &references)
                                .and_then(|p| store.query_path_info(&p)),
                            Err(e) => Err(e.into()),
                        }
                    }
                    CaMethod::Fixed { method, algo } => {
                        store.add_from_dump(&name, method, algo, &references, &mut f, repair)
                    }
                };
                f.drain()?;
                Ok(Response::Reply(Reply::ValidPathInfo(Box::new(res?))))
            }
            AddToStore::Legacy { name, .. } => {
                // The NAR comes inline; read it whole so that the stream stays in step.
                let mut nar = Vec::new();
                ferrix_wire::copy_nar(&mut self.r, &mut nar)?;
                let (method, algo) = match method {
                    CaMethod::Fixed { method, algo } => (method, algo),
                    CaMethod::Text => (Ingestion::Recursive, HashAlgo::Sha256),
                };
                let dump = match method {
                    Ingestion::Recursive => nar,
                    Ingestion::Flat => ferrix_store::nar::regular_contents(&nar)
                        .ok_or_else(|| fail("flat ingestion needs a regular file"))?,
                };
                let info: PathInfo = store.add_from_dump(
                    &name,
                    method,
                    algo,
                    &BTreeSet::new(),
                    &mut &dump[..],
                    false,
                )?;
                Ok(Response::Reply(Reply::Path(info.path)))
            }
        }
    }
}

/// A substituter's record of a path as the protocol sends it.
fn substitutable_info(
    (info, download_size): (ferrix_store::PathInfo, u64),
) -> ferrix_wire::path_info::SubstitutablePathInfo {
    ferrix_wire::path_info::SubstitutablePathInfo {
        deriver: info.deriver,
        references: info.references,
        download_size,
        nar_size: info.nar_size,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_clients_set_only_what_nix_allows() {
        let base = Settings::default();
        let mut cs = ClientSettings {
            keep_failed: true,
            max_build_jobs: 3,
            ..ClientSettings::default()
        };
        cs.overrides.insert("timeout".into(), "7".into());
        cs.overrides.insert("sandbox".into(), "false".into());
        cs.overrides.insert("require-sigs".into(), "false".into());
        cs.overrides
            .insert("substituters".into(), "file:///evil".into());
        let mut warnings = Vec::new();
        let s = apply_client_settings(&base, &cs, false, &mut |w| warnings.push(w));
        assert!(s.keep_failed);
        assert_eq!(s.max_jobs, MaxJobs(3));
        assert_eq!(s.timeout, 7);
        assert_eq!(s.sandbox, base.sandbox);
        assert!(s.require_sigs);
        assert!(s.substituters.is_empty());
        assert_eq!(warnings, ["ignoring untrusted substituter 'file:///evil'"]);

        let s = apply_client_settings(&base, &cs, true, &mut |_| {});
        assert!(!s.require_sigs);
        assert_ne!(s.sandbox, base.sandbox);
    }
}
