//! Remote builds: the machines of the `builders` setting, the choice of a machine for a
//! derivation, and its build there (inputs copied over, `buildDerivation`, outputs copied
//! back), as Nix 2.8's build hook does them.
//!
//! Machines are read as Nix reads them: one per line or `;`-separated entry, `#` comments,
//! `@FILE` includes, and the columns URI, systems, SSH key, max jobs, speed factor,
//! supported features, mandatory features and public host key (`-` for none).
//!
//! The load of each machine is kept in lock files under `STATE/current-load`, one per job
//! slot, as Nix's hook keeps it, so that every process building on this machine (Ferrix's or
//! Nix's) shares the count.

use ferrix_store::derivation::Derivation;
use ferrix_store::lock::{lock_file, open_lock_file};
use ferrix_store::path::StorePath;
use ferrix_store::store::{Store, StoreError};
use ferrix_store::PathInfo;
use nix::fcntl::Flock;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One machine of the `builders` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// The store URI (`ssh://` added to a bare host name, as Nix does).
    pub uri: String,
    /// The platforms it builds for.
    pub systems: Vec<String>,
    /// The SSH private key to log in with (empty: the user's default).
    pub ssh_key: String,
    pub max_jobs: u64,
    /// At least 1.
    pub speed_factor: u64,
    pub supported: BTreeSet<String>,
    /// Features a derivation must ask for to be built there.
    pub mandatory: BTreeSet<String>,
    /// The base64 of the host's public key in `known_hosts` form (empty: none given).
    pub host_key: String,
}

impl Machine {
    /// Whether every feature in `required` is offered (supported or mandatory).
    pub fn all_supported(&self, required: &BTreeSet<String>) -> bool {
        required
            .iter()
            .all(|f| self.supported.contains(f) || self.mandatory.contains(f))
    }

    /// Whether `required` asks for every mandatory feature.
    pub fn mandatory_met(&self, required: &BTreeSet<String>) -> bool {
        self.mandatory.iter().all(|f| required.contains(f))
    }

    /// Whether a derivation for `system` needing `required` may be built here.
    pub fn fits(&self, system: &str, required: &BTreeSet<String>) -> bool {
        (system == "builtin" || self.systems.iter().any(|s| s == system))
            && self.all_supported(required)
            && self.mandatory_met(required)
    }

    /// The store settings the machine's line gives its store: the SSH key and host key
    /// (for `ssh://` and `ssh-ng://`), one connection for `ssh://`, and its features as
    /// the store's `system-features`.
    pub fn store_params(&self) -> Vec<(String, String)> {
        let mut p = Vec::new();
        let ssh = self.uri.starts_with("ssh://");
        if ssh {
            p.push(("max-connections".to_string(), "1".to_string()));
        }
        if ssh || self.uri.starts_with("ssh-ng://") {
            if !self.ssh_key.is_empty() {
                p.push(("ssh-key".to_string(), self.ssh_key.clone()));
            }
            if !self.host_key.is_empty() {
                p.push((
                    "base64-ssh-public-host-key".to_string(),
                    self.host_key.clone(),
                ));
            }
        }
        let features: Vec<&str> = self
            .supported
            .iter()
            .chain(self.mandatory.iter())
            .map(String::as_str)
            .collect();
        p.push(("system-features".to_string(), features.join(" ")));
        p
    }
}

/// A machine line or file that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MachinesError(pub String);

/// The machines `builders` names (`@FILE` entries read; a missing file is no machines).
pub fn parse_machines(builders: &str, this_system: &str) -> Result<Vec<Machine>, MachinesError> {
    let mut lines = Vec::new();
    expand_lines(builders, 0, &mut lines)?;
    lines.iter().map(|l| parse_line(l, this_system)).collect()
}

/// Includes nest at most this deep (a file that includes itself is an error).
const MAX_INCLUDE_DEPTH: usize = 16;

fn expand_lines(text: &str, depth: usize, out: &mut Vec<String>) -> Result<(), MachinesError> {
    for entry in text.split(['\n', ';']) {
        let entry = entry.trim();
        let entry = entry.split('#').next().unwrap_or("");
        if entry.is_empty() {
            continue;
        }
        let Some(file) = entry.strip_prefix('@') else {
            out.push(entry.to_string());
            continue;
        };
        if depth >= MAX_INCLUDE_DEPTH {
            return Err(MachinesError(format!(
                "machines files nest too deeply at '{}'",
                file.trim()
            )));
        }
        let path = file.trim();
        match std::fs::read(path) {
            Ok(bytes) => expand_lines(&String::from_utf8_lossy(&bytes), depth + 1, out)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(MachinesError(format!(
                    "reading file '{path}': {}",
                    ferrix_store::io_reason(&e)
                )))
            }
        }
    }
    Ok(())
}

fn parse_line(line: &str, this_system: &str) -> Result<Machine, MachinesError> {
    let tokens: Vec<&str> = line
        .split([' ', '\t', '\r', '\n'])
        .filter(|t| !t.is_empty())
        .collect();
    let set = |i: usize| {
        tokens
            .get(i)
            .copied()
            .filter(|t| !t.is_empty() && *t != "-")
    };
    let number = |i: usize| -> Result<u64, MachinesError> {
        match set(i) {
            None => Ok(1),
            Some(t) => t.parse::<u32>().map(u64::from).map_err(|_| {
                MachinesError(format!(
                    "bad machine specification: failed to convert column #{i} in a row: '{line}' to 'unsigned int'"
                ))
            }),
        }
    };
    let list = |i: usize| -> Vec<String> {
        set(i)
            .map(|t| {
                t.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let Some(uri) = set(0) else {
        return Err(MachinesError(format!(
            "bad machine specification: store URL was not found at the first column of a row: '{line}'"
        )));
    };
    let host_key = match set(7) {
        Some(k) => {
            if ferrix_store::hash::base64_decode(k.as_bytes()).is_none() {
                return Err(MachinesError(format!(
                    "bad machine specification: a column #7 in a row: '{line}' is not valid base64 string: invalid character in Base64 string"
                )));
            }
            k.to_string()
        }
        None => String::new(),
    };
    let systems = match set(1) {
        Some(_) => list(1),
        None => vec![this_system.to_string()],
    };
    Ok(Machine {
        uri: normalise_uri(uri),
        systems,
        ssh_key: set(2).unwrap_or("").to_string(),
        max_jobs: number(3)?,
        speed_factor: number(4)?.max(1),
        supported: list(5).into_iter().collect(),
        mandatory: list(6).into_iter().collect(),
        host_key,
    })
}

/// A bare host name means `ssh://` (for compatibility); URIs, paths and the store words
/// stay as they are.
fn normalise_uri(uri: &str) -> String {
    let word = |w: &str| uri == w || uri.starts_with(&format!("{w}?"));
    if uri.contains("://")
        || uri.contains('/')
        || word("auto")
        || word("daemon")
        || word("local")
        || uri.starts_with('?')
    {
        uri.to_string()
    } else {
        format!("ssh://{uri}")
    }
}

/// Where a remote build's log goes: each chunk as the remote writes it.
pub type LogSink = Arc<dyn Fn(&[u8]) + Send + Sync>;

/// Opens a store by its URI, with extra store settings (the URI's own win) and, when
/// given, its log (the remote's standard error, or build lines) sent to the sink. Given by
/// the program, which knows every kind of store; used for build machines and for
/// substituters that are not binary caches (`ssh://`, local stores).
pub type OpenStore = dyn Fn(
        &str,
        &[(String, String)],
        Option<LogSink>,
    ) -> Result<Box<dyn Store + Send + Sync>, StoreError>
    + Send
    + Sync;

/// The remote machines of a build, and how to reach them.
pub struct RemoteBuilders {
    /// The machines, or why the setting could not be read (reported when a build would
    /// use them, as Nix reports it).
    machines: Result<Vec<Machine>, MachinesError>,
    /// Machines that could not be reached: not tried again by this process.
    disabled: Mutex<BTreeSet<usize>>,
    open: Arc<OpenStore>,
    /// `STATE/current-load`.
    load_dir: PathBuf,
    /// `builders-use-substitutes`: the remote may substitute the inputs.
    pub use_substitutes: bool,
}

impl std::fmt::Debug for RemoteBuilders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteBuilders")
            .field("machines", &self.machines)
            .field("load_dir", &self.load_dir)
            .finish()
    }
}

/// A job slot taken on a machine; free again when dropped.
pub struct Slot {
    pub machine: Machine,
    pub(crate) index: usize,
    _lock: Flock<File>,
}

/// What [`RemoteBuilders::choose`] decided.
pub enum Choice {
    /// Build on this machine now.
    Remote(Slot),
    /// Machines of the right type exist but are all busy, and this machine cannot build
    /// it: try again later.
    Postpone,
    /// No machine fits: build locally if possible. The text explains why, for the user
    /// when the build cannot be done here either.
    Decline(String),
}

/// The name of a lock file for `uri` (`/` made `_`, as Nix names them).
fn escape_uri(uri: &str) -> String {
    uri.replace('/', "_")
}

impl RemoteBuilders {
    /// The machines, their loads kept under `state_dir/current-load`.
    pub fn new(
        machines: Result<Vec<Machine>, MachinesError>,
        state_dir: &Path,
        open: Arc<OpenStore>,
        use_substitutes: bool,
    ) -> RemoteBuilders {
        RemoteBuilders {
            machines,
            disabled: Mutex::new(BTreeSet::new()),
            open,
            load_dir: state_dir.join("current-load"),
            use_substitutes,
        }
    }

    pub fn machines(&self) -> &[Machine] {
        self.machines.as_deref().unwrap_or(&[])
    }

    /// Whether no machine is configured (a setting that cannot be read is not empty).
    pub fn is_empty(&self) -> bool {
        matches!(&self.machines, Ok(m) if m.is_empty())
    }

    /// Picks the machine to build a derivation for `system` needing `required` on: among
    /// those it fits with a free slot, the least loaded for its speed, then the fastest,
    /// then the least loaded, then the first, as Nix's build hook picks.
    pub fn choose(
        &self,
        drv_name: &str,
        system: &str,
        required: &BTreeSet<String>,
        can_build_locally: bool,
    ) -> Result<Choice, StoreError> {
        let machines = self
            .machines
            .as_ref()
            .map_err(|e| StoreError::Other(e.0.clone()))?;
        let _ = std::fs::create_dir_all(&self.load_dir);
        let main = open_lock_file(&self.load_dir.join("main-lock"))?;
        let _main = lock_file(main, true, true)?;
        let disabled = self
            .disabled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut right_type = false;
        let mut best: Option<(usize, u64, Flock<File>)> = None;
        for (i, m) in machines.iter().enumerate() {
            if disabled.contains(&i) || !m.fits(system, required) {
                continue;
            }
            right_type = true;
            let mut free: Option<Flock<File>> = None;
            let mut load = 0u64;
            for slot in 0..m.max_jobs {
                let p = self.load_dir.join(format!("{}-{slot}", escape_uri(&m.uri)));
                let f = open_lock_file(&p)?;
                match lock_file(f, true, false)? {
                    Some(l) => {
                        if free.is_none() {
                            free = Some(l);
                        }
                    }
                    None => load += 1,
                }
            }
            let Some(lock) = free else { continue };
            let better = match &best {
                None => true,
                Some((b, b_load, _)) => {
                    let bm = &machines[*b];
                    let (mine, theirs) = (load / m.speed_factor, b_load / bm.speed_factor);
                    mine < theirs
                        || (mine == theirs
                            && (m.speed_factor > bm.speed_factor
                                || (m.speed_factor == bm.speed_factor && load < *b_load)))
                }
            };
            if better {
                best = Some((i, load, lock));
            }
        }
        if let Some((i, _, lock)) = best {
            return Ok(Choice::Remote(Slot {
                machine: machines[i].clone(),
                index: i,
                _lock: lock,
            }));
        }
        if right_type && !can_build_locally {
            return Ok(Choice::Postpone);
        }
        let mut text = format!(
            "Failed to find a machine for remote build!\nderivation: {drv_name}\nrequired (system, features): ({system}, {})\n{} available machines:\n(systems, maxjobs, supportedFeatures, mandatoryFeatures)",
            required.iter().cloned().collect::<Vec<_>>().join(", "),
            machines.len()
        );
        for m in machines {
            text.push_str(&format!(
                "\n({}, {}, {}, {})",
                m.systems.join(", "),
                m.max_jobs,
                m.supported.iter().cloned().collect::<Vec<_>>().join(", "),
                m.mandatory.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        Ok(Choice::Decline(text))
    }

    /// Opens the store of the machine of `slot`; a machine that cannot be reached is not
    /// tried again.
    pub fn connect(
        &self,
        slot: &Slot,
        log: LogSink,
    ) -> Result<Box<dyn Store + Send + Sync>, StoreError> {
        (self.open)(&slot.machine.uri, &slot.machine.store_params(), Some(log))
            .inspect_err(|_| self.disable(slot))
    }

    /// Keeps `slot`'s machine from being chosen again by this process.
    pub fn disable(&self, slot: &Slot) {
        self.disabled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(slot.index);
    }

    /// Takes the lock that lets one process at a time upload to `uri`, waiting at most 15
    /// minutes; `None` when somebody held it that long.
    pub fn upload_lock(&self, uri: &str) -> Result<Option<Flock<File>>, StoreError> {
        let p = self
            .load_dir
            .join(format!("{}.upload-lock", escape_uri(uri)));
        let deadline = Instant::now() + Duration::from_secs(15 * 60);
        loop {
            let f = open_lock_file(&p)?;
            if let Some(l) = lock_file(f, true, false)? {
                return Ok(Some(l));
            }
            if Instant::now() >= deadline || crate::interrupted() {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// How a remote build ended, when it did not fail.
pub(crate) enum RemoteOutcome {
    /// The outputs are valid here now.
    Built,
    /// The machine could not be reached or lost its connection: choose again.
    Retry,
}

impl crate::Builder<'_> {
    /// Whether `node` goes to the build hook: always with `--max-jobs 0`; otherwise unless
    /// it is a check or repair, or asks for `preferLocalBuild` and can be built here.
    pub(crate) fn wants_remote(&self, node: &crate::Node) -> bool {
        if self.settings.max_jobs == 0 {
            return true;
        }
        let prefer_local = node
            .drv
            .env
            .get(&b"preferLocalBuild"[..])
            .is_some_and(|v| v == b"1");
        !(node.check || self.settings.repair || (prefer_local && self.fits_here(node)))
    }

    /// Whether this machine can build `node`: its platform and its required features.
    pub(crate) fn fits_here(&self, node: &crate::Node) -> bool {
        let platform = String::from_utf8_lossy(&node.drv.platform);
        let builtin = node.drv.builder.starts_with(b"builtin:");
        let platform_ok = (builtin && platform == "builtin")
            || platform == self.settings.system
            || self.settings.extra_platforms.iter().any(|p| *p == platform);
        platform_ok
            && crate::goal::required_system_features(&node.drv)
                .iter()
                .all(|f| self.settings.system_features.contains(f))
    }

    /// Builds `node` on the machine of `slot` ([`run_job`]), with its log kept as a local
    /// build's, its outputs checked as a local build's, then signed and given to
    /// `post-build-hook`. `locks` (the outputs' locks) are released before the outputs are
    /// added, since the store takes them itself.
    pub(crate) fn build_remote(
        &self,
        remote: &RemoteBuilders,
        node: &crate::Node,
        slot: Slot,
        locks: Vec<ferrix_store::lock::PathLock>,
    ) -> Result<RemoteOutcome, crate::Failure> {
        use crate::{emit, Failure, Output};
        let store = self.store;
        let inputs = self.input_closure(node)?;
        let log = Arc::new(Mutex::new(
            crate::log::BuildLog::open(
                &store.config().log_dir,
                &node.path,
                self.settings.keep_log,
                self.settings.print_build_output,
                self.settings.log_lines,
            )
            .map_err(Failure::OpenLog)?,
        ));
        let sink: LogSink = {
            let log = log.clone();
            Arc::new(move |b: &[u8]| log.lock().unwrap_or_else(|p| p.into_inner()).write(b))
        };
        let mut locks = Some(locks);
        let job = Job {
            store,
            drv_path: &node.path,
            drv: &node.drv,
            outputs: &node.outputs,
            inputs: &inputs,
            check: node.check,
        };
        let r = run_job(
            remote,
            &slot,
            &job,
            sink,
            &mut || drop(locks.take()),
            &|built| crate::outputs::check_remote_references(store, node, built),
        );
        log.lock().unwrap_or_else(|p| p.into_inner()).finish();
        emit(Output::BuildStop(&node.path));
        if !matches!(r, Ok(RemoteOutcome::Built)) {
            return r;
        }
        if !node.check && !self.settings.secret_key_files.is_empty() {
            self.sign_outputs(node)?;
        }
        if !node.check && !self.settings.post_build_hook.is_empty() {
            self.run_post_build_hook(node)?;
        }
        Ok(RemoteOutcome::Built)
    }
}

/// Checks the outputs a machine built (name and metadata) before they are copied back.
type OutputCheck<'a> = dyn Fn(&[(String, PathInfo)]) -> Result<(), crate::Failure> + 'a;

/// One derivation to build on a machine, for `store`.
struct Job<'a> {
    store: &'a (dyn Store + Sync),
    drv_path: &'a StorePath,
    drv: &'a Derivation,
    /// Output name → path.
    outputs: &'a BTreeMap<String, StorePath>,
    /// Its input closure (valid in `store`).
    inputs: &'a BTreeSet<StorePath>,
    check: bool,
}

/// Builds `job` on the machine of `slot`: copies the input closure there, sends the
/// derivation (`buildDerivation`, with the input closure as its sources, so that only what
/// it needs travels), and copies back the outputs the store lacks, after checking that they
/// refer only to their inputs and each other and passing them to `check`. `before_fetch`
/// runs once the build is over. A machine that cannot be reached or loses its connection
/// is reported and disabled: the job is to be placed again.
fn run_job(
    remote: &RemoteBuilders,
    slot: &Slot,
    job: &Job<'_>,
    log: LogSink,
    before_fetch: &mut dyn FnMut(),
    check: &OutputCheck<'_>,
) -> Result<RemoteOutcome, crate::Failure> {
    use crate::{emit, eprint_error, eprint_line, Failure, Output};
    use ferrix_store::store::{copy_paths, BuildMode, CopyEvent};
    let store = job.store;
    let print = |p: &StorePath| store.dir().display(p);
    let drv_name = print(job.drv_path);
    let uri = slot.machine.uri.clone();
    let lost = |e: StoreError| {
        eprint_error(&format!("cannot build on '{uri}': {e}"));
        remote.disable(slot);
        Ok(RemoteOutcome::Retry)
    };
    let other = match remote.connect(slot, log) {
        Ok(s) => s,
        Err(e) => return lost(e),
    };
    let text = if job.check {
        format!("checking outputs of '{drv_name}' on '{uri}'")
    } else {
        format!("building '{drv_name}' on '{uri}'")
    };
    emit(Output::BuildStart {
        drv: job.drv_path,
        text: &text,
        round: 1,
        rounds: 1,
    });
    let say = |s: String| eprint_line(&s);
    {
        let up = remote.upload_lock(&uri)?;
        if up.is_none() {
            say(format!(
                "somebody is hogging the upload lock for '{uri}', continuing..."
            ));
        }
        let to = other.uri();
        let r = copy_paths(
            store,
            &*other,
            job.inputs,
            remote.use_substitutes,
            &mut |ev| match ev {
                CopyEvent::Count(n) => say(format!("copying {n} paths...")),
                CopyEvent::Path(p) => say(format!("copying path '{}' to '{to}'...", print(p))),
            },
        );
        if let Err(e) = r {
            return lost(e);
        }
    }
    let mut basic = job.drv.clone();
    if !basic.input_drvs.is_empty() {
        basic.input_srcs = job.inputs.iter().map(|p| print(p).into_bytes()).collect();
        basic.input_drvs.clear();
    }
    let result = match other.build_derivation(job.drv_path, &basic, BuildMode::Normal) {
        Ok(r) => r,
        Err(e) => return lost(e),
    };
    before_fetch();
    if !result.status.success() {
        eprint_error(&format!(
            "build of '{drv_name}' on '{uri}' failed: {}",
            result.error_msg
        ));
        return Err(Failure::RemoteBuildFailed {
            drv: drv_name,
            machine: uri,
            message: result.error_msg,
        });
    }
    let mut missing = BTreeSet::new();
    for p in job.outputs.values() {
        if !store.is_valid(p)? {
            missing.insert(p.clone());
        }
    }
    if missing.is_empty() {
        return Ok(RemoteOutcome::Built);
    }
    let outs: BTreeSet<&StorePath> = job.outputs.values().collect();
    let mut built = Vec::new();
    for (name, p) in job.outputs {
        if !missing.contains(p) {
            continue;
        }
        let info = other
            .path_info(p)?
            .ok_or_else(|| Failure::RemoteMissingOutput {
                drv: drv_name.clone(),
                machine: uri.clone(),
                path: print(p),
            })?;
        if let Some(r) = info
            .references
            .iter()
            .find(|r| !job.inputs.contains(*r) && !outs.contains(r))
        {
            return Err(Failure::RemoteForeignReference {
                path: print(p),
                machine: uri,
                reference: print(r),
                drv: drv_name,
            });
        }
        built.push((name.clone(), info));
    }
    check(&built)?;
    let from = other.uri();
    copy_paths(&*other, store, &missing, false, &mut |ev| match ev {
        CopyEvent::Count(n) => eprint_line(&format!("copying {n} paths...")),
        CopyEvent::Path(p) => eprint_line(&format!("copying path '{}' from '{from}'...", print(p))),
    })?;
    Ok(RemoteOutcome::Built)
}

/// Builds what `targets` need for `store`, a store that cannot build itself (a binary
/// cache), on the machines of `remote` only, one derivation at a time, as Nix's build hook
/// serves such a store. Its outputs are copied back into `store`.
pub fn realise_on_machines(
    store: &(dyn Store + Sync),
    targets: &[ferrix_store::store::DerivedPath],
    remote: &RemoteBuilders,
    print_missing: bool,
) -> Result<(), crate::BuildError> {
    use crate::{emit, BuildError, FailureKind, Output};
    use ferrix_store::store::DerivedPath;
    // The derivations whose wanted outputs are missing, with everything they need built.
    let mut nodes: BTreeMap<StorePath, (Derivation, BTreeMap<String, StorePath>)> = BTreeMap::new();
    let mut todo: Vec<(StorePath, Option<BTreeSet<String>>)> = Vec::new();
    for t in targets {
        match t {
            DerivedPath::Built { drv, outputs } => todo.push((
                drv.clone(),
                match outputs {
                    ferrix_store::store::OutputsSpec::All => None,
                    ferrix_store::store::OutputsSpec::Names(n) => Some(n.clone()),
                },
            )),
            DerivedPath::Opaque(p) => {
                if !store.is_valid(p)? {
                    return Err(BuildError::NoSubstituter {
                        path: store.dir().display(p),
                    });
                }
            }
        }
    }
    while let Some((d, wanted)) = todo.pop() {
        if nodes.contains_key(&d) {
            continue;
        }
        let drv = store.read_derivation(&d)?;
        let outputs = store.derivation_output_paths(&d)?;
        let mut need = false;
        for (name, p) in &outputs {
            if wanted.as_ref().is_none_or(|w| w.contains(name)) && !store.is_valid(p)? {
                need = true;
            }
        }
        if !need {
            continue;
        }
        for (input, outs) in &drv.input_drvs {
            let ip = store.dir().parse(&String::from_utf8_lossy(input))?;
            let names = outs
                .iter()
                .map(|o| String::from_utf8_lossy(o).into_owned())
                .collect();
            todo.push((ip, Some(names)));
        }
        nodes.insert(d, (drv, outputs));
    }
    if nodes.is_empty() {
        return Ok(());
    }
    if remote.is_empty() {
        return Err(BuildError::NotLocalStore);
    }
    let set: BTreeSet<StorePath> = nodes.keys().cloned().collect();
    let mut order = ferrix_store::local::topo_sort(&set, &|p| {
        nodes[p]
            .0
            .input_drvs
            .keys()
            .filter_map(|i| store.dir().parse(&String::from_utf8_lossy(i)).ok())
            .collect()
    })
    .map_err(|(x, _)| BuildError::Cycle {
        path: store.dir().display(&x),
    })?;
    order.reverse();
    if print_missing {
        let n = order.len();
        let mut text = format!(
            "{} will be built:",
            if n == 1 {
                "this derivation".to_string()
            } else {
                format!("these {n} derivations")
            }
        );
        for d in &order {
            text.push_str(&format!("\n  {}", store.dir().display(d)));
        }
        emit(Output::Message(&text));
    }
    for d in &order {
        let (drv, outputs) = &nodes[d];
        let mut inputs = BTreeSet::new();
        for src in &drv.input_srcs {
            inputs.insert(store.dir().parse(&String::from_utf8_lossy(src))?);
        }
        for (input, outs) in &drv.input_drvs {
            let ip = store.dir().parse(&String::from_utf8_lossy(input))?;
            let paths = store.derivation_output_paths(&ip)?;
            for o in outs {
                if let Some(p) = paths.get(String::from_utf8_lossy(o).as_ref()) {
                    inputs.insert(p.clone());
                }
            }
        }
        let inputs = ferrix_store::store::closure(store, &inputs, false, false)?;
        let platform = String::from_utf8_lossy(&drv.platform).into_owned();
        let required = crate::goal::required_system_features(drv);
        let job = Job {
            store,
            drv_path: d,
            drv,
            outputs,
            inputs: &inputs,
            check: false,
        };
        loop {
            let slot = match remote.choose(&d.to_string(), &platform, &required, false)? {
                Choice::Remote(s) => s,
                Choice::Postpone => {
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
                Choice::Decline(text) => {
                    emit(Output::Message(&text));
                    return Err(BuildError::NoBuildSlots {
                        kind: FailureKind::default(),
                    });
                }
            };
            let r = run_job(
                remote,
                &slot,
                &job,
                Arc::new(|b: &[u8]| {
                    let mut e = std::io::stderr().lock();
                    let _ = std::io::Write::write_all(&mut e, b);
                }),
                &mut || {},
                &|_| Ok(()),
            );
            emit(Output::BuildStop(d));
            match r {
                Ok(RemoteOutcome::Built) => break,
                Ok(RemoteOutcome::Retry) => continue,
                // Nix's hook reports the failure with status 1 whatever its kind.
                Err(failure) => {
                    return Err(BuildError::Failed {
                        drv: store.dir().display(d),
                        failure: Box::new(failure),
                        kind: FailureKind::default(),
                    })
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feats(s: &[&str]) -> BTreeSet<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn lines_columns_and_defaults() {
        let m = parse_machines(
            "ssh://a x86_64-linux,i686-linux /k 4 2 big,kvm kvm ; b - - - - - -\n# c\n  d # e",
            "x86_64-linux",
        )
        .unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].uri, "ssh://a");
        assert_eq!(m[0].systems, ["x86_64-linux", "i686-linux"]);
        assert_eq!(m[0].ssh_key, "/k");
        assert_eq!((m[0].max_jobs, m[0].speed_factor), (4, 2));
        assert_eq!(m[0].supported, feats(&["big", "kvm"]));
        assert_eq!(m[0].mandatory, feats(&["kvm"]));
        assert_eq!(m[1].uri, "ssh://b");
        assert_eq!(m[1].systems, ["x86_64-linux"]);
        assert_eq!((m[1].max_jobs, m[1].speed_factor), (1, 1));
        assert_eq!(m[2].uri, "ssh://d");
        for (w, u) in [
            ("auto", "auto"),
            ("daemon?x=1", "daemon?x=1"),
            ("/tmp/s", "/tmp/s"),
            ("ssh-ng://h", "ssh-ng://h"),
            ("user@h", "ssh://user@h"),
            ("?root=/x", "?root=/x"),
        ] {
            assert_eq!(parse_machines(w, "s").unwrap()[0].uri, u);
        }
    }

    #[test]
    fn bad_lines() {
        let e = parse_machines("h - - x", "s").unwrap_err();
        assert!(e.0.contains("failed to convert column #3"), "{e}");
        let e = parse_machines("h - - 1 1 - - !!", "s").unwrap_err();
        assert!(e.0.contains("column #7"), "{e}");
        assert_eq!(parse_machines("h - - 1 0", "s").unwrap()[0].speed_factor, 1);
    }

    #[test]
    fn files_are_included_and_missing_ones_ignored() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("machines");
        std::fs::write(&f, "a\nb - - 2\n").unwrap();
        let m = parse_machines(&format!("@{}; c", f.display()), "s").unwrap();
        let uris: Vec<&str> = m.iter().map(|m| m.uri.as_str()).collect();
        assert_eq!(uris, ["ssh://a", "ssh://b", "ssh://c"]);
        assert!(parse_machines("@/nonexistent/machines", "s")
            .unwrap()
            .is_empty());
        std::fs::write(&f, format!("@{}\n", f.display())).unwrap();
        assert!(parse_machines(&format!("@{}", f.display()), "s").is_err());
    }

    #[test]
    fn features_fit() {
        let m = parse_machines("h x86_64-linux - 1 1 foo,bar kvm", "s")
            .unwrap()
            .remove(0);
        assert!(m.fits("x86_64-linux", &feats(&["kvm"])));
        assert!(m.fits("x86_64-linux", &feats(&["kvm", "foo"])));
        assert!(
            !m.fits("x86_64-linux", &feats(&["foo"])),
            "mandatory kvm not asked"
        );
        assert!(!m.fits("x86_64-linux", &feats(&["kvm", "baz"])));
        assert!(!m.fits("aarch64-linux", &feats(&["kvm"])));
        assert!(m.fits("builtin", &feats(&["kvm"])));
    }

    fn never(
        _: &str,
        _: &[(String, String)],
        _: Option<LogSink>,
    ) -> Result<Box<dyn Store + Send + Sync>, StoreError> {
        Err(StoreError::Other("unreachable".into()))
    }

    #[test]
    fn choice_by_load_and_speed() {
        let d = tempfile::tempdir().unwrap();
        let machines = parse_machines("a - - 2 1 ; b - - 1 2", "s");
        let r = RemoteBuilders::new(machines, d.path(), Arc::new(never), false);
        let none = BTreeSet::new();
        let pick = |r: &RemoteBuilders| match r.choose("x.drv", "s", &none, false).unwrap() {
            Choice::Remote(s) => s,
            _ => panic!("no machine"),
        };
        // Equal load per speed: the faster machine.
        let s1 = pick(&r);
        assert_eq!(s1.machine.uri, "ssh://b");
        // b is full; a takes two.
        let s2 = pick(&r);
        assert_eq!(s2.machine.uri, "ssh://a");
        let s3 = pick(&r);
        assert_eq!(s3.machine.uri, "ssh://a");
        // All full, and this machine cannot build: postpone.
        assert!(matches!(
            r.choose("x.drv", "s", &none, false).unwrap(),
            Choice::Postpone
        ));
        // A wrong system is declined with the list of machines.
        match r.choose("x.drv", "other", &none, true).unwrap() {
            Choice::Decline(t) => {
                assert!(
                    t.starts_with("Failed to find a machine for remote build!"),
                    "{t}"
                );
                assert!(t.contains("2 available machines"), "{t}");
                assert!(t.contains("\n(s, 2, , )"), "{t}");
            }
            _ => panic!("not declined"),
        }
        drop(s1);
        assert_eq!(pick(&r).machine.uri, "ssh://b");
        drop((s2, s3));
    }

    #[test]
    fn unreachable_machines_are_not_tried_again() {
        let d = tempfile::tempdir().unwrap();
        let machines = parse_machines("a", "s");
        let r = RemoteBuilders::new(machines, d.path(), Arc::new(never), false);
        let none = BTreeSet::new();
        let Choice::Remote(s) = r.choose("x.drv", "s", &none, false).unwrap() else {
            panic!("no machine")
        };
        assert!(r.connect(&s, Arc::new(|_: &[u8]| {})).is_err());
        drop(s);
        assert!(matches!(
            r.choose("x.drv", "s", &none, true).unwrap(),
            Choice::Decline(_)
        ));
    }
}
