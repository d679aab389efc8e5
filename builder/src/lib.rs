//! Building derivations: the scheduler that realises a set of derivations in dependency
//! order with up to `max-jobs` builds at once, and the build of one derivation.
//!
//! - [`env`]: the environment a builder gets, as Nix 2.8 sets it up;
//! - [`sandbox`]: starting the builder, in a Linux sandbox or not;
//! - [`users`]: build users from `build-users-group`;
//! - [`log`]: the build log (terminal, compressed file, limits, the tail on failure);
//! - [`outputs`]: checking and registering what a build produced;
//! - [`fetchurl`]: the `builtin:fetchurl` builder.

pub mod buildenv;
pub mod env;
mod error;
pub mod fetchurl;
mod goal;
pub mod log;
pub mod outputs;
mod progress;
pub mod realiser;
pub mod recursive;
pub mod remote;
pub mod sandbox;
pub mod substitute;
pub mod users;

use ferrix_store::derivation::Derivation;
use ferrix_store::local::LocalStore;
use ferrix_store::path::StorePath;
use ferrix_store::store::{Store, StoreError};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

pub use error::{BuildError, Failure, FailureKind, IoError, ProcessEnd};
pub use ferrix_store::settings::SandboxMode;
use ferrix_store::settings::Settings;

/// A `target=source` entry of `sandbox-paths`; a `?` suffix on the source makes it optional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxPath {
    pub target: String,
    pub source: String,
    pub optional: bool,
}

impl SandboxPath {
    /// Parses one word of `sandbox-paths`: `path`, `target=source`, `target=source?`.
    pub fn parse(word: &str) -> SandboxPath {
        let (word, optional) = match word.strip_suffix('?') {
            Some(w) => (w, true),
            None => (word, false),
        };
        match word.split_once('=') {
            Some((t, s)) => SandboxPath {
                target: t.to_string(),
                source: s.to_string(),
                optional,
            },
            None => SandboxPath {
                target: word.to_string(),
                source: word.to_string(),
                optional,
            },
        }
    }
}

/// The settings that govern building.
#[derive(Debug, Clone)]
pub struct BuildSettings {
    pub max_jobs: usize,
    /// `NIX_BUILD_CORES`.
    pub cores: u64,
    pub sandbox: SandboxMode,
    pub sandbox_paths: Vec<SandboxPath>,
    pub keep_failed: bool,
    pub keep_going: bool,
    /// Seconds; 0 means no limit.
    pub max_silent_time: u64,
    pub timeout: u64,
    /// Bytes; 0 means no limit.
    pub max_log_size: u64,
    pub log_lines: usize,
    /// Empty: no build users.
    pub build_users_group: String,
    pub pre_build_hook: String,
    /// Copy the builder's output to standard error (off with `-Q`).
    pub print_build_output: bool,
    /// Put the last `log_lines` lines of a failed build's log in its error even when the
    /// output was shown: Nix's daemon always does (its logger is never verbose), so that
    /// its clients see them.
    pub log_tail_in_errors: bool,
    /// Print the `these N derivations will be built:` summary.
    pub print_missing: bool,
    /// The `system` this machine builds for, and the other platforms it accepts.
    pub system: String,
    pub extra_platforms: Vec<String>,
    /// Where build directories are created (Nix uses `TMPDIR`).
    pub build_dir_parent: PathBuf,
    /// Where the build directory appears inside the sandbox.
    pub sandbox_build_dir: String,
    /// Keep a compressed copy of each build log.
    pub keep_log: bool,
    /// Run after each successful build with `DRV_PATH` and `OUT_PATHS` (empty: none).
    pub post_build_hook: String,
    /// The features this machine offers to `requiredSystemFeatures`.
    pub system_features: Vec<String>,
    /// The `size=` of the sandbox's `/dev/shm`.
    pub sandbox_dev_shm_size: String,
    /// Build without the sandbox when this system cannot make one.
    pub sandbox_fallback: bool,
    /// The `experimental-features` setting.
    pub experimental_features: Vec<String>,
    /// Every setting as `nix.conf` text, for the `NIX_CONFIG` of `post-build-hook`.
    pub nix_config: String,
    /// Build each derivation this many more times and compare the results.
    pub repeat: u64,
    /// A difference between rounds fails the build (otherwise it is reported).
    pub enforce_determinism: bool,
    /// `--repair`: an output that is valid but missing or changed on disk counts as
    /// missing, and its rebuilt content replaces it.
    pub repair: bool,
    /// Substitution: `substitute`, `substituters`, `require-sigs`, `fallback`, ….
    pub subst: substitute::SubstSettings,
    /// `secret-key-files`: keys that sign what is built.
    pub secret_key_files: Vec<String>,
    /// `builders`: the remote machines (see [`remote`]).
    pub builders: String,
    /// `builders-use-substitutes`.
    pub builders_use_substitutes: bool,
}

impl BuildSettings {
    /// The build settings that `settings` gives; the printing flags keep their defaults.
    pub fn from_settings(s: &Settings) -> BuildSettings {
        BuildSettings {
            max_jobs: s.max_jobs.0,
            cores: s.build_cores(),
            sandbox: s.sandbox,
            sandbox_paths: s
                .sandbox_paths
                .iter()
                .map(|w| SandboxPath::parse(w))
                .collect(),
            keep_failed: s.keep_failed,
            keep_going: s.keep_going,
            max_silent_time: s.max_silent_time.max(0) as u64,
            timeout: s.timeout.max(0) as u64,
            max_log_size: s.max_build_log_size,
            log_lines: s.log_lines as usize,
            build_users_group: s.build_users_group.clone(),
            pre_build_hook: s.pre_build_hook.clone(),
            post_build_hook: s.post_build_hook.clone(),
            print_build_output: true,
            log_tail_in_errors: false,
            print_missing: s.print_missing,
            system: s.system.clone(),
            extra_platforms: s.extra_platforms.clone(),
            // As a store's default: the setting, with `ca-derivations` when that
            // experimental feature is on.
            system_features: {
                let mut f = s.system_features.clone();
                if s.has_experimental("ca-derivations") && !f.iter().any(|x| x == "ca-derivations")
                {
                    f.push("ca-derivations".into());
                }
                f
            },
            build_dir_parent: default_build_dir_parent(),
            sandbox_build_dir: s.sandbox_build_dir.clone(),
            sandbox_dev_shm_size: s.sandbox_dev_shm_size.clone(),
            sandbox_fallback: s.sandbox_fallback,
            keep_log: s.keep_build_log,
            experimental_features: s.experimental_features.clone(),
            nix_config: s.to_string(),
            repeat: s.repeat,
            enforce_determinism: s.enforce_determinism,
            repair: false,
            subst: substitute::SubstSettings::from_settings(s),
            secret_key_files: s.secret_key_files.clone(),
            builders: s.builders.clone(),
            builders_use_substitutes: s.builders_use_substitutes,
        }
    }
}

fn default_build_dir_parent() -> PathBuf {
    std::env::var_os("TMPDIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"))
}

impl Default for BuildSettings {
    fn default() -> Self {
        BuildSettings::from_settings(&Settings::default())
    }
}

pub use ferrix_store::settings::default_system;

/// Normal builds, `--repair`, or `--check` (rebuild valid outputs and compare). The
/// builder takes repair from [`BuildSettings::repair`].
pub use ferrix_store::store::BuildMode;

/// Something to realise: a derivation and the outputs wanted (`None`: all of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub drv: StorePath,
    pub outputs: Option<BTreeSet<String>>,
}

/// What a derivation in the build graph is.
pub(crate) struct Node {
    pub path: StorePath,
    pub drv: Derivation,
    /// Output name → path. A floating content-addressed output is built at a scratch path
    /// and moved to the path its content gives afterwards.
    pub outputs: BTreeMap<String, StorePath>,
    /// The floating content-addressed outputs (name → ingestion and hash algorithm).
    pub floating: BTreeMap<String, (ferrix_store::path::Ingestion, ferrix_store::hash::HashAlgo)>,
    /// The outputs somebody asked for.
    pub wanted: BTreeSet<String>,
    /// Derivations in the graph this one waits for.
    pub deps: Vec<StorePath>,
    /// Rebuild although the outputs are valid (`--check` on a target).
    pub check: bool,
    /// A cache has the outputs but not all they refer to: once the inputs are built, the
    /// outputs are tried from the cache again before building (as Nix retries).
    pub retry_subst: bool,
}

/// Prints a line on standard error, ignoring failures (a closed terminal must not stop a
/// build).
pub(crate) fn eprint_line(s: &str) {
    emit(Output::Message(s));
}

/// Reports an error that does not end the realisation (another build's failure).
pub(crate) fn eprint_error(msg: &str) {
    emit(Output::Error(msg));
}

/// `msg` as Nix prints an error: `error: ` in front, and continuation lines indented under
/// the message.
pub fn error_text(msg: &str) -> String {
    format!("error: {}", msg.replace('\n', "\n       "))
}

/// What the builder tells the user.
#[derive(Debug, Clone, Copy)]
pub enum Output<'a> {
    /// A message line (`note: keeping build directory …`, `running post-build-hook …`).
    Message(&'a str),
    /// An error that does not stop the realisation (another build's failure), without the
    /// `error: ` in front.
    Error(&'a str),
    /// A line the builder of a derivation wrote (escape sequences already filtered).
    BuildLine(&'a StorePath, &'a [u8]),
    /// A derivation's build starts; `text` says so (`building '…'`, without the dots).
    BuildStart {
        drv: &'a StorePath,
        text: &'a str,
        round: u64,
        rounds: u64,
    },
    /// A derivation's build ended (after its start, or without one when nothing was built).
    BuildStop(&'a StorePath),
    /// `done` bytes of the NAR of a path being substituted have arrived, of `total` when
    /// known (for a progress display).
    Download {
        path: &'a StorePath,
        done: u64,
        total: Option<u64>,
    },
    /// The download of a path ended, copied or not.
    DownloadDone(&'a StorePath),
    /// `done` of the `total` paths to substitute are copied.
    Copied { done: u64, total: u64 },
}

type Sink = Box<dyn Fn(Output<'_>) + Send + Sync>;

static SINK: std::sync::RwLock<Option<Sink>> = std::sync::RwLock::new(None);

/// Sends what the builder tells the user to `sink` instead of standard error (the daemon
/// sends it to its client).
pub fn set_output(sink: Sink) {
    *SINK.write().unwrap_or_else(|p| p.into_inner()) = Some(sink);
}

/// Where one thread's builds report, instead of the process's sink: a recursive Nix
/// connection sends its builds' output to its own client. The builder's threads inherit
/// it from the thread that started them.
pub type ThreadSink = Arc<dyn Fn(Output<'_>) + Send + Sync>;

thread_local! {
    static THREAD_SINK: std::cell::RefCell<Option<ThreadSink>> = const { std::cell::RefCell::new(None) };
}

/// Sets (or clears) the current thread's sink.
pub fn set_thread_output(sink: Option<ThreadSink>) {
    THREAD_SINK.with(|s| *s.borrow_mut() = sink);
}

/// The current thread's sink, for threads it starts.
pub(crate) fn thread_output() -> Option<ThreadSink> {
    THREAD_SINK.with(|s| s.borrow().clone())
}

pub(crate) fn emit(o: Output<'_>) {
    if let Some(sink) = thread_output() {
        sink(o);
        return;
    }
    let g = SINK.read().unwrap_or_else(|p| p.into_inner());
    match &*g {
        Some(sink) => sink(o),
        None => {
            use std::io::Write;
            if let Some(p) = progress::get() {
                match o {
                    Output::Download { path, done, total } => p.download(path, done, total),
                    Output::DownloadDone(path) => p.download_done(path),
                    Output::Copied { done, total } => p.copied(done, total),
                    Output::Message(s) => p.println(s),
                    Output::Error(s) => p.println(&error_text(s)),
                    Output::BuildLine(_, l) => p.println(&String::from_utf8_lossy(l)),
                    Output::BuildStart { text, .. } => p.println(&format!("{text}...")),
                    Output::BuildStop(_) => {}
                }
                return;
            }
            let mut e = std::io::stderr().lock();
            match o {
                Output::Message(s) => {
                    let _ = e.write_all(s.as_bytes());
                }
                Output::Error(s) => {
                    let _ = e.write_all(error_text(s).as_bytes());
                }
                Output::BuildLine(_, l) => {
                    let _ = e.write_all(l);
                }
                Output::BuildStart { text, .. } => {
                    let _ = e.write_all(text.as_bytes());
                    let _ = e.write_all(b"...");
                }
                Output::BuildStop(_)
                | Output::Download { .. }
                | Output::DownloadDone(_)
                | Output::Copied { .. } => return,
            }
            let _ = e.write_all(b"\n");
        }
    }
}

/// Realises derivations in a local store.
pub struct Builder<'s> {
    pub store: &'s LocalStore,
    pub settings: BuildSettings,
    /// Where the derivations are when they are not in `store` (`--eval-store`): they are
    /// read from there, and the sources they need copied into `store`.
    pub eval: Option<&'s (dyn Store + Sync)>,
    /// A derivation given in memory (`BuildDerivation` of the serve protocol): under its
    /// path, it is built as given, without being read from any store. Only its sources
    /// need to be valid.
    pub given: Option<(StorePath, Derivation)>,
    /// The binary caches to substitute from (none: everything is built).
    pub subst: Option<Arc<substitute::Substituters>>,
    /// The machines to build on besides this one (none: everything is built here).
    pub remote: Option<Arc<remote::RemoteBuilders>>,
    /// Paths to copy from the caches, found while reading the derivations.
    planned: std::sync::Mutex<BTreeMap<StorePath, substitute::Planned>>,
    /// Which derivation each planned output belongs to.
    planned_for: std::sync::Mutex<BTreeMap<StorePath, StorePath>>,
    /// Derivations whose substitution failed and that are built instead (`--fallback`).
    no_subst: std::sync::Mutex<BTreeSet<StorePath>>,
    /// Store paths that must be made valid besides the derivations' outputs (`nix-store
    /// -r PATH`): they can only be substituted.
    pub opaque: std::sync::Mutex<Vec<StorePath>>,
    /// Computing what would be done only (`query_missing`), as Nix's `queryMissing` does.
    pub query_only: bool,
    /// Paths no cache offers that realising would need (`query_missing`).
    pub unknown: std::sync::Mutex<BTreeSet<StorePath>>,
    /// Where the floating content-addressed outputs built went: (derivation, output) →
    /// path.
    pub realised: std::sync::Mutex<BTreeMap<(StorePath, String), StorePath>>,
}

/// Set by [`interrupt`] (from a signal handler): running builds are killed, nothing more
/// starts, and the realisation fails.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Asks every running realisation to stop. Async-signal-safe.
pub fn interrupt() {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Whether the process was interrupted.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// The floating content-addressed outputs of `drv`: those with a hash algorithm but no
/// hash (and no path).
pub(crate) fn floating_outputs(
    drv: &Derivation,
) -> Result<
    BTreeMap<String, (ferrix_store::path::Ingestion, ferrix_store::hash::HashAlgo)>,
    BuildError,
> {
    let mut out = BTreeMap::new();
    for (name, o) in &drv.outputs {
        if o.hash_algo.is_empty() || !o.hash.is_empty() {
            continue;
        }
        let kind = o
            .ingestion()
            .map_err(|algo| BuildError::UnknownHashAlgo { algo })?;
        out.insert(String::from_utf8_lossy(name).into_owned(), kind);
    }
    Ok(out)
}

/// Where output `output` of the floating content-addressed derivation `drv` is built: a
/// path made from `rewrite:<drv>:name:<output>` and an all-zero hash, as Nix makes it.
pub(crate) fn scratch_output_path(
    dir: &ferrix_store::path::StoreDir,
    drv: &StorePath,
    output: &str,
) -> Result<StorePath, BuildError> {
    let zero = ferrix_store::hash::Hash::zero(ferrix_store::hash::HashAlgo::Sha256);
    let drv_name = drv.name().strip_suffix(".drv").unwrap_or(drv.name());
    let name = if output == "out" {
        drv_name.to_string()
    } else {
        format!("{drv_name}-{output}")
    };
    Ok(dir.make_path(
        &format!("rewrite:{}:name:{output}", drv.base_name()),
        &zero,
        &name,
    )?)
}

impl<'s> Builder<'s> {
    /// Whether the `ca-derivations` experimental feature is on.
    pub(crate) fn ca_derivations(&self) -> bool {
        self.settings
            .experimental_features
            .iter()
            .any(|f| f == "ca-derivations")
    }

    /// The masked modulo hash of `drv`, which names its outputs' realisations; none when
    /// an input derivation cannot be read.
    pub(crate) fn masked_hash(&self, drv: &Derivation) -> Option<ferrix_store::hash::Hash> {
        let store = self.drv_store();
        let mut memo = BTreeMap::new();
        drv.hash_modulo(true, &mut |input: &[u8]| {
            let q = store.dir().parse(&String::from_utf8_lossy(input))?;
            ferrix_store::store::drv_hash_modulo(store, &q, &mut memo)
        })
        .ok()
    }

    /// Where the floating outputs of `drv` were realised, if every one was and is still
    /// valid.
    fn realised_before(
        &self,
        drv: &Derivation,
        floating: &BTreeMap<String, (ferrix_store::path::Ingestion, ferrix_store::hash::HashAlgo)>,
    ) -> Result<Option<BTreeMap<String, StorePath>>, BuildError> {
        let Some(hash) = self.masked_hash(drv) else {
            return Ok(None);
        };
        let mut found = BTreeMap::new();
        for name in floating.keys() {
            let id = ferrix_store::realisation::DrvOutput {
                drv_hash: hash.clone(),
                output: name.clone(),
            };
            match self.store.query_realisation(&id)? {
                Some(r) if self.store.is_valid(&r.out_path)? => {
                    self.store.add_temp_root(&r.out_path)?;
                    found.insert(name.clone(), r.out_path);
                }
                _ => return Ok(None),
            }
        }
        Ok(Some(found))
    }

    /// The store the derivations are read from.
    pub(crate) fn drv_store(&self) -> &dyn Store {
        match self.eval {
            Some(e) => e,
            None => self.store,
        }
    }

    pub fn new(store: &'s LocalStore, settings: BuildSettings) -> Builder<'s> {
        Builder {
            store,
            settings,
            eval: None,
            given: None,
            subst: None,
            remote: None,
            planned: Default::default(),
            planned_for: Default::default(),
            no_subst: Default::default(),
            opaque: Default::default(),
            query_only: false,
            unknown: Default::default(),
            realised: Default::default(),
        }
    }

    /// Whether the outputs of `drv` may come from a cache (`allowSubstitutes`, on unless
    /// the derivation says otherwise, and substitution not given up for it).
    fn may_substitute(&self, drv_path: &StorePath, drv: &Derivation) -> bool {
        let Some(s) = &self.subst else { return false };
        if !s.any() || lock(&self.no_subst).contains(drv_path) {
            return false;
        }
        let allowed = match drv.env.get(&b"__json"[..]) {
            Some(json) => serde_json::from_slice::<serde_json::Value>(json)
                .ok()
                .and_then(|v| v.get("allowSubstitutes").and_then(|b| b.as_bool()))
                .unwrap_or(true),
            None => drv
                .env
                .get(&b"allowSubstitutes"[..])
                .is_none_or(|v| v.as_slice() == b"1"),
        };
        allowed
    }

    /// Plans copying `paths` (and what they need) from the caches, even valid ones when
    /// `force`; whether every one of them can be.
    pub(crate) fn plan_subst(
        &self,
        paths: &BTreeSet<StorePath>,
        force: bool,
    ) -> Result<bool, StoreError> {
        let Some(s) = &self.subst else {
            return Ok(false);
        };
        let mut plan = lock(&self.planned);
        s.plan(self.store, paths, force, !self.query_only, &mut plan)
    }

    /// Adds paths to copy and paths no cache has (`query_missing`).
    pub(crate) fn add_planned(
        &self,
        found: BTreeMap<StorePath, substitute::Planned>,
        unknown: BTreeSet<StorePath>,
    ) {
        lock(&self.planned).extend(found);
        lock(&self.unknown).extend(unknown);
    }

    /// What the caches will supply: the paths and their download and unpacked sizes.
    pub fn planned(&self) -> (BTreeSet<StorePath>, u64, u64) {
        let plan = lock(&self.planned);
        let mut dl = 0;
        let mut nar = 0;
        for p in plan.values() {
            dl += p.narinfo.file_size;
            nar += p.narinfo.info.nar_size;
        }
        (plan.keys().cloned().collect(), dl, nar)
    }

    fn print(&self, p: &StorePath) -> String {
        self.store.print(p)
    }

    /// Whether output `p` needs no build: it is valid and, when repairing, its contents
    /// still have the recorded hash.
    pub(crate) fn output_ok(&self, p: &StorePath) -> Result<bool, StoreError> {
        if !self.store.is_valid(p)? {
            return Ok(false);
        }
        if !self.settings.repair {
            return Ok(true);
        }
        let info = self.store.query_path_info(p)?;
        let mut h = ferrix_store::hash::Hasher::new(ferrix_store::hash::HashAlgo::Sha256);
        match ferrix_store::nar::dump(&self.store.real_path(p), &mut h, &mut |_| Ok(true)) {
            Ok(()) => Ok(h.finish() == info.nar_hash),
            Err(_) => Ok(false),
        }
    }

    /// The derivations that must be built for `targets`, in the order Nix lists them (the
    /// dependencies first). With `dry_run`, only these are computed.
    pub fn missing(
        &self,
        targets: &[Target],
        mode: BuildMode,
    ) -> Result<Vec<StorePath>, BuildError> {
        let graph = self.graph(targets, mode)?;
        self.order(&graph)
    }

    fn order(&self, graph: &BTreeMap<StorePath, Node>) -> Result<Vec<StorePath>, BuildError> {
        let set: BTreeSet<StorePath> = graph.keys().cloned().collect();
        let mut sorted = self.store.topo_sort(&set)?;
        sorted.reverse();
        Ok(sorted)
    }

    /// Reads the derivations to build, starting at `targets`, and skipping those whose
    /// wanted outputs are valid.
    fn graph(
        &self,
        targets: &[Target],
        mode: BuildMode,
    ) -> Result<BTreeMap<StorePath, Node>, BuildError> {
        lock(&self.planned).clear();
        lock(&self.planned_for).clear();
        let opaque = lock(&self.opaque).clone();
        for p in &opaque {
            let repair = self.settings.repair;
            if (repair || !self.store.is_valid(p)?)
                && !self.plan_subst(&[p.clone()].into(), repair)?
            {
                if repair && self.store.is_valid(p)? {
                    continue;
                }
                return Err(BuildError::BuildsFailed {
                    paths: vec![self.print(p)],
                    kind: FailureKind::default(),
                });
            }
        }
        let mut graph: BTreeMap<StorePath, Node> = BTreeMap::new();
        let mut done: BTreeMap<StorePath, bool> = BTreeMap::new();
        for t in targets {
            self.visit(
                &t.drv,
                t.outputs.as_ref(),
                mode == BuildMode::Check,
                &mut graph,
                &mut done,
            )?;
        }
        Ok(graph)
    }

    /// Adds to the graph the derivations that rebuild the damaged paths in the closure of
    /// `drv_path`'s wanted (valid) outputs.
    fn repair_closure(
        &self,
        drv_path: &StorePath,
        want: &BTreeSet<String>,
        outputs: &BTreeMap<String, StorePath>,
        graph: &mut BTreeMap<StorePath, Node>,
        done: &mut BTreeMap<StorePath, bool>,
    ) -> Result<(), BuildError> {
        let roots: BTreeSet<StorePath> = want.iter().map(|w| outputs[w].clone()).collect();
        for p in self.store.closure(&roots, false, false)? {
            if self.output_ok(&p)? {
                continue;
            }
            if self.plan_subst(&[p.clone()].into(), true)? {
                continue;
            }
            let info = self.store.query_path_info(&p)?;
            let deriver = info
                .deriver
                .filter(|d| d != drv_path && self.store.is_valid(d).unwrap_or(false));
            let Some(d) = deriver else {
                return Err(BuildError::CannotRepair {
                    path: self.print(&p),
                });
            };
            let names: BTreeSet<String> = self
                .store
                .derivation_output_paths(&d)?
                .into_iter()
                .filter(|(_, o)| *o == p)
                .map(|(n, _)| n)
                .collect();
            self.visit(&d, Some(&names), false, graph, done)?;
        }
        Ok(())
    }

    /// Adds `drv` (and what it needs) to the graph when it must be built; returns whether
    /// it must.
    fn visit(
        &self,
        drv_path: &StorePath,
        wanted: Option<&BTreeSet<String>>,
        check: bool,
        graph: &mut BTreeMap<StorePath, Node>,
        done: &mut BTreeMap<StorePath, bool>,
    ) -> Result<bool, BuildError> {
        if let Some(&needed) = done.get(drv_path) {
            if let (true, Some(n)) = (needed, graph.get_mut(drv_path)) {
                n.wanted.extend(wanted_names(&n.outputs, wanted));
                n.check |= check;
            } else if check {
                // A target of --check that was only seen as a valid dependency so far.
                done.remove(drv_path);
                return self.visit(drv_path, wanted, check, graph, done);
            }
            return Ok(needed);
        }
        // A collector running meanwhile keeps the derivation (and so its sources and input
        // derivations) and its outputs, as Nix's goals register them.
        self.store.add_temp_root(drv_path)?;
        let given = self.given.as_ref().filter(|(p, _)| p == drv_path);
        let drv = match (given, self.eval) {
            (Some((_, d)), _) => d.clone(),
            (None, Some(eval)) => {
                if !eval.is_valid(drv_path)? {
                    return Err(BuildError::InvalidPath {
                        path: self.print(drv_path),
                    });
                }
                let drv = eval.read_derivation(drv_path)?;
                ferrix_store::store::check_derivation_in(
                    eval,
                    drv_path,
                    &drv,
                    self.ca_derivations(),
                )?;
                drv
            }
            (None, None) => {
                if !self.store.is_valid(drv_path)? && !self.store.real_path(drv_path).exists() {
                    return Err(BuildError::InvalidPath {
                        path: self.print(drv_path),
                    });
                }
                let drv = self.store.read_derivation(drv_path)?;
                // A forged or malformed derivation (one that got in before it was checked)
                // is not built: its outputs could be someone else's paths.
                self.store.check_parsed_derivation(drv_path, &drv)?;
                drv
            }
        };
        let mut outputs = BTreeMap::new();
        let floating = floating_outputs(&drv)?;
        if !floating.is_empty() && !self.ca_derivations() {
            return Err(BuildError::CaDerivationsDisabled);
        }
        for (name, o) in &drv.outputs {
            let name = String::from_utf8_lossy(name).into_owned();
            if floating.contains_key(&name) {
                // Built at a scratch path, named as Nix names it.
                let p = scratch_output_path(self.store.dir(), drv_path, &name)?;
                self.store.add_temp_root(&p)?;
                outputs.insert(name, p);
                continue;
            }
            if o.path.is_empty() {
                return Err(BuildError::DeferredOutput {
                    drv: self.print(drv_path),
                    output: name,
                });
            }
            let p = String::from_utf8_lossy(&o.path);
            let p = self
                .store
                .dir()
                .parse(&p)
                .map_err(|error| BuildError::BadOutputPath {
                    drv: self.print(drv_path),
                    error,
                })?;
            self.store.add_temp_root(&p)?;
            outputs.insert(name, p);
        }
        // Floating outputs realised before (and still valid) need no build.
        if !floating.is_empty() && !check {
            if let Some(found) = self.realised_before(&drv, &floating)? {
                let mut r = lock(&self.realised);
                for (name, p) in found {
                    r.insert((drv_path.clone(), name.clone()), p.clone());
                    outputs.insert(name, p);
                }
            }
        }
        let want = wanted_names(&outputs, wanted);
        for w in &want {
            if !outputs.contains_key(w) {
                return Err(BuildError::NoSuchOutput {
                    drv: self.print(drv_path),
                    output: w.clone(),
                });
            }
        }
        let mut all_valid = true;
        for w in &want {
            if !self.output_ok(&outputs[w])? {
                all_valid = false;
            }
        }
        if check && !all_valid {
            return Err(BuildError::CheckNotPossible {
                drv: self.print(drv_path),
            });
        }
        let mut retry_subst = false;
        // Floating outputs have no path to look up in a cache.
        if !all_valid && !check && floating.is_empty() && self.may_substitute(drv_path, &drv) {
            if let (Some(s), Ok(Some((method, hash)))) =
                (&self.subst, outputs::fixed_expectation(&drv))
            {
                if let Some(out) = outputs.get("out") {
                    s.note_fixed_output(out, method, hash);
                }
            }
            let mut invalid = BTreeSet::new();
            for w in &want {
                if !self.output_ok(&outputs[w])? {
                    invalid.insert(outputs[w].clone());
                }
            }
            if self.plan_subst(&invalid, self.settings.repair)? {
                let mut f = lock(&self.planned_for);
                for p in invalid {
                    f.insert(p, drv_path.clone());
                }
                done.insert(drv_path.clone(), false);
                return Ok(false);
            }
            // The cache has the outputs but not their whole closure.
            if let Some(s) = self.subst.clone() {
                let (found, unknown) =
                    s.explore(self.store, &invalid, self.settings.repair, !self.query_only)?;
                if invalid.iter().all(|o| found.contains_key(o)) {
                    if self.query_only {
                        // As Nix's queryMissing counts it: fetched, and what the cache
                        // lacks unknown.
                        lock(&self.planned).extend(found);
                        lock(&self.unknown).extend(unknown);
                        done.insert(drv_path.clone(), false);
                        return Ok(false);
                    }
                    // What can be copied is, the derivation is built, and its outputs
                    // are tried again once its inputs are there.
                    let mut bad = unknown.clone();
                    loop {
                        let more: Vec<StorePath> = found
                            .iter()
                            .filter(|(p, f)| {
                                !bad.contains(*p)
                                    && f.narinfo.info.references.iter().any(|r| bad.contains(r))
                            })
                            .map(|(p, _)| p.clone())
                            .collect();
                        if more.is_empty() {
                            break;
                        }
                        bad.extend(more);
                    }
                    lock(&self.planned).extend(found.into_iter().filter(|(p, _)| !bad.contains(p)));
                    retry_subst = true;
                }
            }
        }
        if all_valid && !check {
            done.insert(drv_path.clone(), false);
            if self.settings.repair {
                // Repairing: what the valid outputs need must be intact too, so each damaged
                // path of their closure is rebuilt through the derivation that made it.
                self.repair_closure(drv_path, &want, &outputs, graph, done)?;
            }
            return Ok(false);
        }
        done.insert(drv_path.clone(), true);
        let mut deps = Vec::new();
        for (input, outs) in &drv.input_drvs {
            let ip = self.store.dir().parse(&String::from_utf8_lossy(input))?;
            let outs: BTreeSet<String> = outs
                .iter()
                .map(|o| String::from_utf8_lossy(o).into_owned())
                .collect();
            if self.visit(&ip, Some(&outs), false, graph, done)? {
                deps.push(ip);
            }
        }
        for src in &drv.input_srcs {
            let sp = self.store.dir().parse(&String::from_utf8_lossy(src))?;
            if let Some(eval) = self
                .eval
                .filter(|_| !self.store.is_valid(&sp).unwrap_or(false))
            {
                // `--eval-store`: the sources are there; this store gets a copy.
                if eval.is_valid(&sp)? {
                    ferrix_store::store::copy_closure(eval, self.store, &[sp.clone()].into())?;
                }
            }
            if !self.store.is_valid(&sp)? && !self.plan_subst(&[sp.clone()].into(), false)? {
                return Err(BuildError::InvalidInput {
                    path: self.print(&sp),
                    drv: self.print(drv_path),
                });
            }
        }
        graph.insert(
            drv_path.clone(),
            Node {
                path: drv_path.clone(),
                drv,
                outputs,
                wanted: want,
                floating,
                deps,
                check,
                retry_subst,
            },
        );
        Ok(true)
    }

    /// Prints Nix's summary of what will be built.
    pub fn print_missing(&self, order: &[StorePath]) {
        if order.is_empty() {
            return;
        }
        if order.len() == 1 {
            eprint_line("this derivation will be built:");
        } else {
            eprint_line(&format!("these {} derivations will be built:", order.len()));
        }
        for p in order {
            eprint_line(&format!("  {}", self.print(p)));
        }
    }

    /// Builds what `targets` need. Errors of builds other than the targets' own are
    /// printed as they happen; the returned error is the targets' failure.
    pub fn realise(
        &self,
        targets: &[Target],
        mode: BuildMode,
        dry_run: bool,
    ) -> Result<(), BuildError> {
        let mut graph = self.graph(targets, mode)?;
        let mut order = self.order(&graph)?;
        if self.settings.print_missing {
            let listed: Vec<StorePath> = order
                .iter()
                .filter(|p| !graph[*p].check || mode != BuildMode::Check)
                .cloned()
                .collect();
            self.print_missing(&listed);
            let (paths, dl, nar) = self.planned();
            print_fetched(&paths, dl, nar, &|p| self.print(p));
        }
        if dry_run {
            return Ok(());
        }
        // Substitute what was planned. Derivations whose outputs could not be copied are
        // then built: always when the cache had lost the NAR, otherwise only with
        // `--fallback`.
        while let Some(s) = self.subst.clone() {
            let plan = std::mem::take(&mut *lock(&self.planned));
            if plan.is_empty() {
                break;
            }
            let jobs = usize::try_from(s.settings().max_substitution_jobs).unwrap_or(usize::MAX);
            let failed = s.run(self.store, &plan, self.settings.repair, jobs);
            if failed.is_empty() {
                break;
            }
            let owners: BTreeMap<StorePath, StorePath> = lock(&self.planned_for).clone();
            let opaque = lock(&self.opaque).clone();
            let lost: Vec<String> = opaque
                .iter()
                .filter(|p| failed.contains_key(*p))
                .map(|p| self.print(p))
                .collect();
            if !lost.is_empty() {
                return Err(BuildError::BuildsFailed {
                    paths: lost,
                    kind: FailureKind::default(),
                });
            }
            let drvs: BTreeSet<StorePath> = failed
                .keys()
                .filter_map(|p| owners.get(p).cloned())
                .collect();
            let hard: BTreeSet<StorePath> = failed
                .iter()
                .filter(|(_, h)| **h)
                .filter_map(|(p, _)| owners.get(p).cloned())
                .collect();
            if !s.settings().fallback && !hard.is_empty() {
                let mut errors: Vec<BuildError> = hard
                    .iter()
                    .map(|d| BuildError::SubstitutesFailed { drv: self.print(d) })
                    .collect();
                let last = errors.pop().expect("not empty");
                for e in &errors {
                    eprint_error(&e.to_string());
                }
                return Err(last);
            }
            let new: Vec<StorePath> = {
                let mut no = lock(&self.no_subst);
                drvs.into_iter().filter(|d| no.insert(d.clone())).collect()
            };
            if new.is_empty() {
                // Only paths that no derivation here makes (sources) failed.
                let p = failed.keys().next().expect("not empty");
                return Err(BuildError::NoSubstituter {
                    path: self.print(p),
                });
            }
            lock(&self.opaque).clear();
            graph = self.graph(targets, mode)?;
            order = self.order(&graph)?;
        }
        if order.is_empty() {
            return Ok(());
        }
        self.schedule(graph, &order, targets)
    }

    fn schedule(
        &self,
        graph: BTreeMap<StorePath, Node>,
        order: &[StorePath],
        targets: &[Target],
    ) -> Result<(), BuildError> {
        let target_set: BTreeSet<&StorePath> = targets.iter().map(|t| &t.drv).collect();
        let mut dependents: BTreeMap<&StorePath, Vec<&StorePath>> = BTreeMap::new();
        let mut pending: BTreeMap<&StorePath, usize> = BTreeMap::new();
        for (p, n) in &graph {
            pending.insert(p, n.deps.len());
            for d in &n.deps {
                dependents.entry(d).or_default().push(p);
            }
        }
        let rank: BTreeMap<&StorePath, usize> =
            order.iter().enumerate().map(|(i, p)| (p, i)).collect();
        let mut ready: VecDeque<&StorePath> = order.iter().filter(|p| pending[p] == 0).collect();
        let mut failed_deps: BTreeMap<&StorePath, usize> = BTreeMap::new();
        let mut resolved: BTreeSet<&StorePath> = BTreeSet::new();
        // Target failures, in the order they happened.
        let mut target_errors: Vec<(StorePath, TargetFailure)> = Vec::new();
        let mut kinds = FailureKind::default();
        let cancel = Arc::new(AtomicBool::new(false));
        let mut stopping = false;
        let mut locked: Vec<&StorePath> = Vec::new();
        let jobs = self.settings.max_jobs;
        // A finished job: the derivation, its result (`None`: its remote machine failed
        // and it is to be tried again), and whether it was a local build.
        let (tx, rx) = mpsc::channel::<(StorePath, Option<Result<(), Failure>>, bool)>();
        let graph = &graph;
        let remote = self.remote.clone().filter(|r| !r.is_empty());
        // Derivations no machine took (built here), and those waiting for a machine.
        let mut declined: BTreeSet<&StorePath> = BTreeSet::new();
        let mut postponed: Vec<&StorePath> = Vec::new();
        let mut announced: BTreeSet<&StorePath> = BTreeSet::new();
        // Nothing can be built here (`max-jobs` 0) and no machine took a build.
        let mut no_slots = false;
        std::thread::scope(|scope| {
            let mut running = 0usize;
            let mut local = 0usize;
            loop {
                if interrupted() {
                    cancel.store(true, Ordering::Relaxed);
                    stopping = true;
                }
                while !stopping {
                    let Some(p) = ready.pop_front() else { break };
                    let node = &graph[p];
                    let builtin = node.drv.builder.starts_with(b"builtin:");
                    let hook = remote
                        .as_deref()
                        .filter(|_| !builtin && !declined.contains(p) && self.wants_remote(node));
                    if let Some(r) = hook {
                        let can_local = local < jobs && self.fits_here(node);
                        let platform = String::from_utf8_lossy(&node.drv.platform);
                        let required = goal::required_system_features(&node.drv);
                        match r.choose(&p.to_string(), &platform, &required, can_local) {
                            Err(e) => {
                                let _ = tx.send((node.path.clone(), Some(Err(e.into())), false));
                                running += 1;
                                continue;
                            }
                            Ok(remote::Choice::Remote(slot)) => {
                                let locks = match goal::try_lock_outputs(self.store, node) {
                                    Ok(Some(l)) => l,
                                    Ok(None) => {
                                        locked.push(p);
                                        continue;
                                    }
                                    Err(f) => {
                                        let _ = tx.send((node.path.clone(), Some(Err(f)), false));
                                        running += 1;
                                        continue;
                                    }
                                };
                                running += 1;
                                let tx = tx.clone();
                                let out = thread_output();
                                scope.spawn(move || {
                                    set_thread_output(out);
                                    let r = match self.build_remote(r, node, slot, locks) {
                                        Ok(remote::RemoteOutcome::Built) => Some(Ok(())),
                                        Ok(remote::RemoteOutcome::Retry) => None,
                                        Err(f) => Some(Err(f)),
                                    };
                                    let _ = tx.send((node.path.clone(), r, false));
                                });
                                continue;
                            }
                            Ok(remote::Choice::Postpone) => {
                                if announced.insert(p) {
                                    eprint_line(&format!(
                                        "waiting for a machine to build '{}'",
                                        self.print(p)
                                    ));
                                }
                                postponed.push(p);
                                continue;
                            }
                            Ok(remote::Choice::Decline(text)) => {
                                declined.insert(p);
                                if !can_local {
                                    eprint_line(&text);
                                }
                            }
                        }
                    }
                    if jobs == 0 && !builtin {
                        // Nothing can be built: the whole realisation fails with it,
                        // whichever derivation it was.
                        no_slots = true;
                        stopping = true;
                        break;
                    }
                    if local >= jobs.max(1) {
                        ready.push_front(p);
                        break;
                    }
                    // Outputs another process is building wait (without taking a job
                    // slot) while this one goes on with the rest.
                    let locks = match goal::try_lock_outputs(self.store, node) {
                        Ok(Some(l)) => l,
                        Ok(None) => {
                            locked.push(p);
                            continue;
                        }
                        Err(f) => {
                            let _ = tx.send((node.path.clone(), Some(Err(f)), false));
                            running += 1;
                            continue;
                        }
                    };
                    running += 1;
                    local += 1;
                    let tx = tx.clone();
                    let cancel = cancel.clone();
                    let out = thread_output();
                    scope.spawn(move || {
                        set_thread_output(out);
                        let r = self.build_one(node, &cancel, locks);
                        let _ = tx.send((node.path.clone(), Some(r), true));
                    });
                }
                // Those whose locks were taken elsewhere, or that wait for a machine, are
                // tried again.
                let waiting = !locked.is_empty() || !postponed.is_empty();
                ready.extend(locked.drain(..));
                ready.extend(postponed.drain(..));
                if running == 0 {
                    if waiting && !stopping {
                        std::thread::sleep(Duration::from_millis(100));
                        continue;
                    }
                    break;
                }
                let (p, r, was_local) = match rx.recv_timeout(Duration::from_millis(100)) {
                    Ok(x) => x,
                    Err(_) => continue,
                };
                running -= 1;
                if was_local {
                    local -= 1;
                }
                let p: &StorePath = graph.get_key_value(&p).map(|(k, _)| k).unwrap_or(&order[0]);
                // Its machine failed: choose again.
                let Some(r) = r else {
                    ready.push_front(p);
                    continue;
                };
                let ok = match r {
                    Ok(()) => true,
                    Err(f) => {
                        let kind = f.kind();
                        kinds.merge(kind);
                        // Once cancelled, failures of no kind (the cancelled builds
                        // themselves) are not worth reporting.
                        if !cancel.load(Ordering::Relaxed) || kind != FailureKind::default() {
                            if target_set.contains(p) {
                                target_errors.push((p.clone(), TargetFailure::Built(f)));
                            } else {
                                eprint_error(&f.to_string());
                            }
                        }
                        if !self.settings.keep_going {
                            stopping = true;
                            cancel.store(true, Ordering::Relaxed);
                        }
                        false
                    }
                };
                // Release (or fail) the dependents whose inputs are now all done.
                let mut finished = vec![(p, ok)];
                while let Some((q, q_ok)) = finished.pop() {
                    for d in dependents.get(q).cloned().unwrap_or_default() {
                        if resolved.contains(d) {
                            continue;
                        }
                        if !q_ok {
                            *failed_deps.entry(d).or_default() += 1;
                        }
                        let left = pending.get_mut(d).expect("dependent is in the graph");
                        *left -= 1;
                        // Without --keep-going a failed input fails its dependents at once.
                        if *left > 0 && (q_ok || self.settings.keep_going) {
                            continue;
                        }
                        resolved.insert(d);
                        match failed_deps.get(d) {
                            None => {
                                let pos = ready
                                    .iter()
                                    .position(|r| rank[r] > rank[d])
                                    .unwrap_or(ready.len());
                                ready.insert(pos, d);
                            }
                            Some(n) => {
                                let f = TargetFailure::Dependencies(*n);
                                if target_set.contains(d) {
                                    target_errors.push((d.clone(), f));
                                } else {
                                    let e = f.into_error(self.print(d), FailureKind::default());
                                    eprint_error(&e.to_string());
                                }
                                finished.push((d, false));
                            }
                        }
                    }
                }
            }
        });
        if interrupted() {
            return Err(BuildError::Interrupted);
        }
        if no_slots {
            for (p, f) in target_errors {
                eprint_error(&f.into_error(self.print(&p), kinds).to_string());
            }
            return Err(BuildError::NoBuildSlots { kind: kinds });
        }
        match target_errors.len() {
            0 => Ok(()),
            1 => {
                let (p, f) = target_errors.remove(0);
                Err(f.into_error(self.print(&p), kinds))
            }
            _ => {
                let mut paths = Vec::new();
                for (p, f) in target_errors {
                    paths.push(self.print(&p));
                    eprint_error(&f.into_error(self.print(&p), kinds).to_string());
                }
                Err(BuildError::BuildsFailed { paths, kind: kinds })
            }
        }
    }
}

/// Why a target of a realisation failed.
enum TargetFailure {
    /// Its own build.
    Built(Failure),
    /// That many of its inputs' builds.
    Dependencies(usize),
}

impl TargetFailure {
    /// The error of target `drv` failing so, in a realisation whose failures were of kinds
    /// `kind`.
    fn into_error(self, drv: String, kind: FailureKind) -> BuildError {
        match self {
            TargetFailure::Built(failure) => BuildError::Failed {
                drv,
                failure: Box::new(failure),
                kind,
            },
            TargetFailure::Dependencies(count) => {
                BuildError::DependenciesFailed { drv, count, kind }
            }
        }
    }
}

/// The output names `wanted` selects (all of them for `None`).
fn wanted_names(
    outputs: &BTreeMap<String, StorePath>,
    wanted: Option<&BTreeSet<String>>,
) -> BTreeSet<String> {
    match wanted {
        Some(w) if !w.contains("*") => w.clone(),
        _ => outputs.keys().cloned().collect(),
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Nix's lines for the paths that will be fetched, with their sizes in MiB.
pub fn fetched_lines(
    paths: &BTreeSet<StorePath>,
    download: u64,
    unpacked: u64,
    print: &dyn Fn(&StorePath) -> String,
) -> Vec<String> {
    if paths.is_empty() {
        return Vec::new();
    }
    let mib = |n: u64| n as f64 / (1024.0 * 1024.0);
    let sizes = format!(
        "({:.2} MiB download, {:.2} MiB unpacked)",
        mib(download),
        mib(unpacked)
    );
    let mut v = vec![if paths.len() == 1 {
        format!("this path will be fetched {sizes}:")
    } else {
        format!("these {} paths will be fetched {sizes}:", paths.len())
    }];
    v.extend(paths.iter().map(|p| format!("  {}", print(p))));
    v
}

fn print_fetched(
    paths: &BTreeSet<StorePath>,
    download: u64,
    unpacked: u64,
    print: &dyn Fn(&StorePath) -> String,
) {
    for l in fetched_lines(paths, download, unpacked, print) {
        eprint_line(&l);
    }
}
