//! The local store: store paths as files under the real store directory, their metadata in
//! the SQLite database under the state directory.
//!
//! Every addition follows the same order, so that a crash (even SIGKILL) at any moment
//! leaves nothing registered that is not complete on disk: the bytes are written to a
//! temporary name in the real store directory, the path is locked (`<path>.lock`), the
//! temporary is renamed to its final name, the file system is synced (one `syncfs`, which
//! covers every file of the path and the rename), and only then is the path registered in
//! one database transaction. A path that exists on disk but is not registered
//! is invalid and gets replaced by the next addition.

use crate::db::{Db, PathInfo};
use crate::derivation::Derivation;
use crate::hash::{Hash, HashAlgo, Hasher};
use crate::lock::{lock_file, open_lock_file, PathLock, TempRoots};
use crate::nar::{self, ParseOptions, Restorer};
use crate::path::{Ingestion, StoreDir, StorePath};
use crate::store::{
    content_path, BuildMode, BuildResult, DerivedPath, Filter, GcOptions, GcResult, Missing,
    OutputsSpec, Roots, Store, StoreError,
};
use nix::fcntl::Flock;
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// Where a local store keeps things.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalConfig {
    /// The logical store directory, as paths are printed and hashed.
    pub store_dir: StoreDir,
    /// Where the bytes of store paths are (differs in a chroot store).
    pub real_dir: PathBuf,
    /// `/nix/var/nix`: the database, locks, roots.
    pub state_dir: PathBuf,
    /// `/nix/var/log/nix`: build logs.
    pub log_dir: PathBuf,
    /// Write nothing: additions only compute their paths.
    pub read_only: bool,
    /// The `use-case-hack` setting.
    pub case_hack: bool,
    /// Sync new paths to disk before registering them (the `sync-before-registering`
    /// setting, off by default as in Nix: without it a path survives the crash of any
    /// process, and a power failure may lose what the file system had not yet written).
    pub fsync: bool,
    /// Sync the database so that a power failure cannot corrupt it (the `fsync-metadata`
    /// setting: SQLite's `synchronous = normal`, else `off`).
    pub fsync_metadata: bool,
    /// The store's `system-features` parameter (`DIR?system-features=foo`): the features
    /// its builds offer, instead of the `system-features` setting.
    pub system_features: Option<Vec<String>>,
}

impl LocalConfig {
    /// A chroot store under `root` with Nix's defaults: `/nix/store` paths whose files are
    /// in `root/nix/store`, its state in `root/nix/var/nix` and logs in
    /// `root/nix/var/log/nix`, writable, with no case hack and no syncs before
    /// registering.
    pub fn chroot(root: &Path) -> LocalConfig {
        LocalConfig {
            store_dir: StoreDir::default(),
            real_dir: root.join("nix/store"),
            state_dir: root.join("nix/var/nix"),
            log_dir: root.join("nix/var/log/nix"),
            read_only: false,
            case_hack: false,
            fsync: false,
            fsync_metadata: true,
            system_features: None,
        }
    }
}

/// A message for the user while a long operation runs.
pub enum Log {
    /// Informational (`printInfo`).
    Info(String),
    /// An error that does not stop the operation, printed as is (`printError`).
    Error(String),
    /// An error printed with `error: ` in front.
    PrefixedError(String),
    /// A warning.
    Warn(String),
}

/// Counts what went through a reader and hashes it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
    pub count: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Hasher::new(HashAlgo::Sha256),
            count: 0,
        }
    }

    pub fn finish(self) -> (Hash, u64, R) {
        (self.hasher.finish(), self.count, self.inner)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Hashes and counts what is written to it.
struct HashingWriter {
    hashers: Vec<Hasher>,
    count: u64,
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        for h in &mut self.hashers {
            h.update(buf);
        }
        self.count += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub(crate) fn io_at(e: &io::Error, what: &str, p: &Path) -> StoreError {
    StoreError::io(format!("{what} '{}'", p.display()), e)
}

/// The NAR hash and size of the tree at `p`.
pub fn hash_path(p: &Path, case_hack: bool) -> Result<(Hash, u64), StoreError> {
    let mut w = HashingWriter {
        hashers: vec![Hasher::new(HashAlgo::Sha256)],
        count: 0,
    };
    nar::dump_with(p, &mut w, &mut |_| Ok(true), case_hack).map_err(nar_err)?;
    let h = w.hashers.pop().map(Hasher::finish);
    Ok((h.unwrap_or_else(|| Hash::zero(HashAlgo::Sha256)), w.count))
}

fn nar_err(e: io::Error) -> StoreError {
    StoreError::Io {
        kind: e.kind(),
        msg: e.to_string(),
    }
}

/// Sets the metadata of a store path as Nix does: read-only, executable where any
/// execute bit was set, modification time 1.
pub fn canonicalise(p: &Path) -> Result<(), StoreError> {
    let meta = fs::symlink_metadata(p).map_err(|e| io_at(&e, "getting attributes of path", p))?;
    if meta.is_dir() {
        for e in fs::read_dir(p).map_err(|e| io_at(&e, "opening directory", p))? {
            let e = e.map_err(|e| io_at(&e, "reading directory", p))?;
            canonicalise(&e.path())?;
        }
    }
    canonicalise_entry(p, &meta)
}

/// The mode and modification time of one entry of a store path (see [`canonicalise`]);
/// `meta` is its `symlink_metadata`.
pub fn canonicalise_entry(p: &Path, meta: &fs::Metadata) -> Result<(), StoreError> {
    if !meta.file_type().is_symlink() {
        let mode = if meta.is_dir() || meta.mode() & 0o111 != 0 {
            0o555
        } else {
            0o444
        };
        if meta.mode() & 0o7777 != mode {
            fs::set_permissions(p, fs::Permissions::from_mode(mode))
                .map_err(|e| io_at(&e, "changing mode of", p))?;
        }
    }
    if meta.mtime() != 1 {
        let t = nix::sys::time::TimeSpec::new(1, 0);
        nix::sys::stat::utimensat(
            nix::fcntl::AT_FDCWD,
            p,
            &t,
            &t,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .map_err(|e| {
            io_at(
                &io::Error::from_raw_os_error(e as i32),
                "changing modification time of",
                p,
            )
        })?;
    }
    Ok(())
}

/// Writes everything of the file system that holds `p` to disk: the files of a new path,
/// whatever their number, and its rename, in one call.
fn sync_fs(p: &Path) -> Result<(), StoreError> {
    #[cfg(test)]
    tests::SYNCS.with(|n| n.set(n.get() + 1));
    File::open(p)
        .and_then(|f| {
            nix::unistd::syncfs(&f).map_err(|e| std::io::Error::from_raw_os_error(e as i32))
        })
        .map_err(|e| io_at(&e, "syncing the file system of", p))
}

/// Copies the tree at `src` (what `filter` accepts) to the new path `dst`.
fn copy_tree(src: &Path, dst: &Path, filter: Filter<'_>) -> Result<(), StoreError> {
    let meta = fs::symlink_metadata(src).map_err(|e| io_at(&e, "getting status of", src))?;
    let ft = meta.file_type();
    if ft.is_file() {
        let mut from = File::open(src).map_err(|e| io_at(&e, "opening file", src))?;
        let mut to = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(if meta.mode() & 0o100 != 0 {
                0o755
            } else {
                0o644
            })
            .open(dst)
            .map_err(|e| io_at(&e, "creating file", dst))?;
        let n = io::copy(&mut from, &mut to).map_err(|e| io_at(&e, "writing to file", dst))?;
        if n != meta.len() {
            return Err(StoreError::Other(format!(
                "file '{}' changed while it was being added",
                src.display()
            )));
        }
    } else if ft.is_symlink() {
        let t = fs::read_link(src).map_err(|e| io_at(&e, "reading symbolic link", src))?;
        std::os::unix::fs::symlink(&t, dst).map_err(|e| io_at(&e, "creating symlink", dst))?;
    } else if ft.is_dir() {
        fs::create_dir(dst).map_err(|e| io_at(&e, "creating directory", dst))?;
        for e in fs::read_dir(src).map_err(|e| io_at(&e, "opening directory", src))? {
            let e = e.map_err(|e| io_at(&e, "reading directory", src))?;
            let child = src.join(e.file_name());
            if !filter(&child)? {
                continue;
            }
            copy_tree(&child, &dst.join(e.file_name()), filter)?;
        }
    } else {
        return Err(StoreError::Other(format!(
            "file '{}' has an unsupported type",
            src.display()
        )));
    }
    Ok(())
}

/// A temporary file or tree that is removed unless it was kept.
struct Temp(Option<PathBuf>);

impl Temp {
    fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = nar::remove_tree(&p);
        }
    }
}

/// The process that made a Ferrix temporary in the store directory, if `name` is one:
/// `<hash>-ferrix-tmp-<what>-<pid>-<n>` ([`LocalStore::temp_path`]), or the
/// `.ferrix-<what>-<pid>-<n>-<nanos>` of other temporaries.
fn temp_owner(name: &str) -> Option<i32> {
    let rest = match name.strip_prefix(".ferrix-") {
        Some(r) => r,
        None => name.split_once("-ferrix-tmp-")?.1,
    };
    rest.split('-').nth(1)?.parse::<i32>().ok()
}

/// Whether `name` (an entry of the real store directory) is a Ferrix temporary whose
/// process still runs: work in progress, not garbage.
pub fn is_live_temp(name: &str) -> bool {
    let Some(pid) = temp_owner(name) else {
        return false;
    };
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
        .map(|_| true)
        .unwrap_or_else(|e| e != nix::errno::Errno::ESRCH)
}

/// The local store.
pub struct LocalStore {
    cfg: LocalConfig,
    db: Mutex<Db>,
    temp_roots: Mutex<Option<Arc<Mutex<TempRoots>>>>,
    /// Paths "added" in read-only mode. A hash set: a whole package set's evaluation adds
    /// hundreds of thousands, and a tree's comparisons each read a path's text from a
    /// different cache line.
    session: Mutex<FxHashSet<StorePath>>,
    /// Modulo hashes of the derivations checked so far (a `.drv` path names its contents).
    drv_hashes: Mutex<FxHashMap<StorePath, Hash>>,
    _big_lock: Option<Flock<File>>,
    /// Builds for [`Store::build_paths`] and friends, supplied by the builder above.
    realiser: std::sync::OnceLock<Arc<dyn Realiser>>,
    /// Where messages of long operations go.
    logger: std::sync::OnceLock<Arc<dyn Fn(Log) + Send + Sync>>,
    /// `require-sigs` and `trusted-public-keys`.
    sig_policy: Mutex<(bool, Vec<String>)>,
    /// `keep-outputs` and `keep-derivations`, for the garbage collector.
    gc_policy: Mutex<crate::gc::GcPolicy>,
    /// The `auto-optimise-store` setting.
    auto_optimise: std::sync::atomic::AtomicBool,
    /// Whether the `ca-derivations` experimental feature is on.
    ca_derivations: std::sync::atomic::AtomicBool,
    /// Whether the realisation tables are known to be there.
    ca_schema_ready: std::sync::atomic::AtomicBool,
    /// The automatic collector's settings and state.
    pub(crate) auto_gc: Arc<Mutex<crate::autogc::AutoGc>>,
    /// Paths installed by [`Store::add_nar_deferred`] and not yet registered, with their
    /// locks (held until [`Store::commit_added`]).
    deferred: Mutex<Vec<(PathInfo, PathLock)>>,
}

/// What builds derivations for a local store. The builder implements it; the store only
/// calls it, so that the store stays below the builder.
pub trait Realiser: Send + Sync {
    /// Builds `targets`, reading derivations from `eval` when given (`--eval-store`).
    fn build_paths(
        &self,
        store: &LocalStore,
        targets: &[DerivedPath],
        mode: BuildMode,
        eval: Option<&(dyn Store + Sync)>,
    ) -> Result<(), StoreError>;
    fn build_derivation(
        &self,
        store: &LocalStore,
        drv_path: &StorePath,
        drv: &Derivation,
        mode: BuildMode,
    ) -> Result<BuildResult, StoreError>;
    fn query_missing(
        &self,
        store: &LocalStore,
        targets: &[DerivedPath],
        eval: Option<&(dyn Store + Sync)>,
    ) -> Result<Missing, StoreError>;
    /// What the substituters offer of `paths` (see [`Store::query_substitutable`]).
    fn query_substitutable(
        &self,
        _store: &LocalStore,
        _paths: &BTreeSet<StorePath>,
    ) -> Result<BTreeMap<StorePath, (PathInfo, u64)>, StoreError> {
        Ok(BTreeMap::new())
    }
    /// Copies `p` (and what it needs) from a substituter, replacing a valid `p` when
    /// `repair`; false when no substituter has it.
    fn substitute(
        &self,
        _store: &LocalStore,
        _p: &StorePath,
        _repair: bool,
    ) -> Result<bool, StoreError> {
        Ok(false)
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn create_dirs(p: &Path) -> Result<(), StoreError> {
    fs::create_dir_all(p).map_err(|e| io_at(&e, "creating directory", p))
}

impl LocalStore {
    /// Opens the store, creating its directories and database unless read-only.
    pub fn open(cfg: LocalConfig) -> Result<LocalStore, StoreError> {
        let db_dir = cfg.state_dir.join("db");
        let mut big_lock = None;
        if !cfg.read_only {
            for d in [
                &cfg.state_dir,
                &db_dir,
                &cfg.state_dir.join("temproots"),
                &cfg.state_dir.join("gcroots"),
                &cfg.state_dir.join("profiles"),
            ] {
                create_dirs(d)?;
            }
            if !cfg.real_dir.exists() {
                create_dirs(&cfg.real_dir)?;
                let _ = fs::set_permissions(&cfg.real_dir, fs::Permissions::from_mode(0o1775));
            }
            let links = cfg.real_dir.join(".links");
            if !links.exists() {
                create_dirs(&links)?;
            }
            let f = open_lock_file(&db_dir.join("big-lock"))?;
            big_lock = lock_file(f, false, true)?;
        }
        let db = Db::open(&db_dir, &cfg.store_dir, !cfg.read_only, cfg.fsync_metadata)?;
        Ok(LocalStore {
            cfg,
            db: Mutex::new(db),
            temp_roots: Mutex::new(None),
            session: Mutex::new(FxHashSet::default()),
            drv_hashes: Mutex::new(FxHashMap::default()),
            _big_lock: big_lock,
            realiser: std::sync::OnceLock::new(),
            logger: std::sync::OnceLock::new(),
            sig_policy: Mutex::new((
                true,
                vec!["cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=".into()],
            )),
            gc_policy: Mutex::new(crate::gc::GcPolicy::default()),
            auto_optimise: std::sync::atomic::AtomicBool::new(false),
            ca_derivations: std::sync::atomic::AtomicBool::new(false),
            ca_schema_ready: std::sync::atomic::AtomicBool::new(false),
            auto_gc: Arc::new(Mutex::new(crate::autogc::AutoGc::default())),
            deferred: Mutex::new(Vec::new()),
        })
    }

    pub fn config(&self) -> &LocalConfig {
        &self.cfg
    }

    /// Installs what builds for this store (once).
    pub fn set_realiser(&self, r: Arc<dyn Realiser>) {
        let _ = self.realiser.set(r);
    }

    /// Where the messages of long operations (verification, roots) go (once). Without one
    /// they are dropped.
    pub fn set_logger(&self, l: Arc<dyn Fn(Log) + Send + Sync>) {
        let _ = self.logger.set(l);
    }

    /// Sends a message to the logger.
    pub fn log(&self, m: Log) {
        if let Some(l) = self.logger.get() {
            l(m)
        }
    }

    /// `require-sigs` and `trusted-public-keys` for [`Store::add_nar`].
    pub fn set_signature_policy(&self, require_sigs: bool, keys: Vec<String>) {
        *lock(&self.sig_policy) = (require_sigs, keys);
    }

    /// `keep-outputs` and `keep-derivations` for [`Store::collect_garbage`].
    /// `auto-optimise-store`: link the files of every path added or built into `.links`.
    pub fn set_auto_optimise(&self, on: bool) {
        self.auto_optimise
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// The `ca-derivations` experimental feature: floating content-addressed derivations
    /// are accepted and built.
    pub fn set_ca_derivations(&self, on: bool) {
        self.ca_derivations
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn ca_derivations_enabled(&self) -> bool {
        self.ca_derivations
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn auto_optimise_enabled(&self) -> bool {
        self.auto_optimise
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The logger set with [`LocalStore::set_logger`], if any.
    pub fn logger_handle(&self) -> Option<Arc<dyn Fn(Log) + Send + Sync>> {
        self.logger.get().cloned()
    }

    /// `keep-outputs` and `keep-derivations` as set.
    pub fn gc_policy(&self) -> crate::gc::GcPolicy {
        *lock(&self.gc_policy)
    }

    pub fn set_gc_policy(&self, p: crate::gc::GcPolicy) {
        *lock(&self.gc_policy) = p;
    }

    fn realiser(&self) -> Result<&Arc<dyn Realiser>, StoreError> {
        self.realiser
            .get()
            .ok_or_else(|| self.unsupported("building"))
    }

    /// Rebuilds the valid path `p` in repair mode through its deriver, so that the rebuilt
    /// content replaces what is on disk (Nix's repair without substitutes).
    pub fn repair_path(&self, p: &StorePath) -> Result<(), StoreError> {
        let cannot = || StoreError::Other(format!("cannot repair path '{}'", self.print(p)));
        // A substituter's copy first, as Nix does; then a rebuild.
        if let Ok(true) = self.realiser()?.substitute(self, p, true) {
            return Ok(());
        }
        let info = Store::query_path_info(self, p)?;
        let Some(drv) = info.deriver.filter(|d| self.is_valid(d).unwrap_or(false)) else {
            return Err(cannot());
        };
        let names: BTreeSet<String> = Store::derivation_output_paths(self, &drv)?
            .into_iter()
            .filter(|(_, o)| o == p)
            .map(|(n, _)| n)
            .collect();
        if names.is_empty() {
            return Err(cannot());
        }
        self.realiser()?.build_paths(
            self,
            &[DerivedPath::Built {
                drv,
                outputs: OutputsSpec::Names(names),
            }],
            BuildMode::Repair,
            None,
        )
    }

    /// Runs `f` on the database.
    pub fn with_db<T>(
        &self,
        f: impl FnOnce(&mut Db) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        f(&mut lock(&self.db))
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        if self.cfg.read_only {
            Err(StoreError::Other(
                "cannot write to the store in read-only mode".into(),
            ))
        } else {
            Ok(())
        }
    }

    /// Keeps `p` from being garbage collected while this process lives.
    pub fn add_temp_root(&self, p: &StorePath) -> Result<(), StoreError> {
        if self.cfg.read_only {
            return Ok(());
        }
        let mut g = lock(&self.temp_roots);
        if g.is_none() {
            *g = Some(TempRoots::shared(&self.cfg.state_dir)?);
        }
        match g.as_ref() {
            Some(r) => lock(r).add(&self.cfg.store_dir.display(p)),
            None => Ok(()),
        }
    }

    /// A name for temporary data in the real store directory.
    /// A new name for a temporary in the real store directory. It has the form of a store
    /// path (`<random hash>-ferrix-tmp-<what>-<pid>-<n>`) and is a temp root of this
    /// process before anything is written there, so that no collector (Nix's deletes any
    /// entry of the store directory that is not a store path) removes work in progress.
    pub(crate) fn temp_path(&self, what: &str) -> Result<PathBuf, StoreError> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let seed = format!("{pid}:{n}:{nanos}:{}", self.cfg.real_dir.display());
        let hash = Hash::of(HashAlgo::Sha256, seed.as_bytes());
        let name = format!(
            "{}-ferrix-tmp-{what}-{pid}-{n}",
            crate::nix32::encode(&hash.bytes[..20])
        );
        let p = StorePath::from_base_name(&name)?;
        self.add_temp_root(&p)?;
        Ok(self.cfg.real_dir.join(name))
    }

    pub fn print(&self, p: &StorePath) -> String {
        self.cfg.store_dir.display(p)
    }

    /// Removes temporaries in the real store directory that processes which no longer run
    /// left behind (after SIGKILL or a crash). They were never registered.
    pub fn remove_stale_temps(&self) -> Result<(), StoreError> {
        let Ok(rd) = fs::read_dir(&self.cfg.real_dir) else {
            return Ok(());
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if temp_owner(&name).is_some() && !is_live_temp(&name) {
                let _ = nar::remove_tree(&e.path());
            }
        }
        Ok(())
    }

    // ---- queries ----

    pub fn path_info(&self, p: &StorePath) -> Result<Option<PathInfo>, StoreError> {
        lock(&self.db).path_info(p)
    }

    /// The metadata of a valid path; Nix's error for an invalid one.
    pub fn query_path_info(&self, p: &StorePath) -> Result<PathInfo, StoreError> {
        self.path_info(p)?
            .ok_or_else(|| StoreError::Other(format!("path '{}' is not valid", self.print(p))))
    }

    pub fn all_valid(&self) -> Result<BTreeSet<StorePath>, StoreError> {
        lock(&self.db).all_valid()
    }

    pub fn referrers(&self, p: &StorePath) -> Result<BTreeSet<StorePath>, StoreError> {
        lock(&self.db).referrers(p)
    }

    /// The outputs a derivation file names, by output name (empty paths left out).
    pub fn derivation_output_paths(
        &self,
        drv: &StorePath,
    ) -> Result<BTreeMap<String, StorePath>, StoreError> {
        let d = self.read_derivation(drv)?;
        let mut out = BTreeMap::new();
        for (name, o) in &d.outputs {
            if o.path.is_empty() {
                continue;
            }
            let s = String::from_utf8_lossy(&o.path);
            out.insert(
                String::from_utf8_lossy(name).into_owned(),
                self.cfg.store_dir.parse(&s)?,
            );
        }
        Ok(out)
    }

    /// The closure of `start` under references (or referrers when `flip`), with the valid
    /// outputs of derivations (or the derivers of paths when `flip`) when `include_outputs`.
    pub fn closure(
        &self,
        start: &BTreeSet<StorePath>,
        flip: bool,
        include_outputs: bool,
    ) -> Result<BTreeSet<StorePath>, StoreError> {
        let mut done = BTreeSet::new();
        let mut todo: Vec<StorePath> = start.iter().cloned().collect();
        while let Some(p) = todo.pop() {
            if done.contains(&p) {
                continue;
            }
            let db = lock(&self.db);
            let next: BTreeSet<StorePath> = if flip {
                let mut r = db.referrers(&p)?;
                if include_outputs {
                    r.extend(db.valid_derivers(&p)?);
                }
                if !db.is_valid(&p)? {
                    return Err(StoreError::Other(format!(
                        "path '{}' is not valid",
                        self.print(&p)
                    )));
                }
                r
            } else {
                let info = db.path_info(&p)?.ok_or_else(|| {
                    StoreError::Other(format!("path '{}' is not valid", self.print(&p)))
                })?;
                let mut r = info.references;
                if include_outputs && p.is_derivation() {
                    for o in db.derivation_outputs(&p)?.into_values() {
                        if db.is_valid(&o)? {
                            r.insert(o);
                        }
                    }
                }
                r
            };
            drop(db);
            done.insert(p);
            todo.extend(next.into_iter().filter(|n| !done.contains(n)));
        }
        Ok(done)
    }

    /// `paths` ordered so that every path comes before the paths it refers to (Nix's
    /// `topoSortPaths`).
    pub fn topo_sort(&self, paths: &BTreeSet<StorePath>) -> Result<Vec<StorePath>, StoreError> {
        // Invalid paths sort as if they had no references, as in Nix.
        let mut refs = BTreeMap::new();
        for p in paths {
            let r = self.path_info(p)?.map(|i| i.references).unwrap_or_default();
            refs.insert(p.clone(), r);
        }
        topo_sort(paths, &|p| refs.get(p).cloned().unwrap_or_default()).map_err(|(a, b)| {
            StoreError::Other(format!(
                "cycle detected in the references of '{}' from '{}'",
                self.print(&a),
                self.print(&b)
            ))
        })
    }

    // ---- additions ----

    /// The (unmasked) modulo hash of the derivation at `p`, which need not be valid yet.
    pub fn drv_hash_modulo(&self, p: &StorePath) -> Result<Hash, StoreError> {
        if let Some(h) = lock(&self.drv_hashes).get(p) {
            return Ok(h.clone());
        }
        let drv = self.read_derivation(p)?;
        let h = drv.hash_modulo(false, &mut |input: &[u8]| {
            let q = self.cfg.store_dir.parse(&String::from_utf8_lossy(input))?;
            self.drv_hash_modulo(&q)
        })?;
        lock(&self.drv_hashes).insert(p.clone(), h.clone());
        Ok(h)
    }

    /// Checks the derivation at `p` (which need not be valid yet) as Nix does before it
    /// accepts or builds one: see [`crate::drv_check`]. Returns its output paths.
    pub fn check_derivation(
        &self,
        p: &StorePath,
    ) -> Result<BTreeMap<String, StorePath>, StoreError> {
        self.check_parsed_derivation(p, &self.read_derivation(p)?)
    }

    /// [`LocalStore::check_derivation`] of the derivation `drv` read from `p`.
    pub fn check_parsed_derivation(
        &self,
        p: &StorePath,
        drv: &crate::derivation::Derivation,
    ) -> Result<BTreeMap<String, StorePath>, StoreError> {
        let ca = self.ca_derivations_enabled();
        crate::drv_check::check(&self.cfg.store_dir, p, drv, ca, &mut |input: &[u8]| {
            let q = self.cfg.store_dir.parse(&String::from_utf8_lossy(input))?;
            self.drv_hash_modulo(&q)
        })
    }

    /// Registers paths whose bytes are in place, in one transaction. Derivations are
    /// checked first (a forged or malformed one refuses the whole batch) and get their
    /// outputs recorded.
    pub fn register_valid_paths(&self, infos: &[PathInfo]) -> Result<(), StoreError> {
        self.check_writable()?;
        let mut outs = BTreeMap::new();
        for i in infos {
            if i.path.is_derivation() {
                outs.insert(i.path.clone(), self.check_derivation(&i.path)?);
            }
        }
        lock(&self.db).register(infos, &outs)
    }

    /// Moves the finished temporary `tmp` to the real location of `p`, replacing an invalid
    /// leftover there.
    fn install(&self, tmp: Temp, p: &StorePath) -> Result<(), StoreError> {
        let real = self.real_path(p);
        if fs::symlink_metadata(&real).is_ok() {
            nar::remove_tree(&real).map_err(|e| io_at(&e, "deleting", &real))?;
        }
        fs::rename(tmp.path(), &real).map_err(|e| io_at(&e, "moving to", &real))?;
        tmp.keep();
        if self.cfg.fsync {
            sync_fs(&self.cfg.real_dir)?;
        }
        Ok(())
    }

    /// Reads a NAR into a temporary for `info.path` after the checks of an addition
    /// (signatures with `check_sigs`), and checks its hash and size against `info`.
    /// `None`: the path is valid already (and the archive was read to its end), unless
    /// `repair`.
    fn restore_nar(
        &self,
        info: &PathInfo,
        nar: &mut dyn Read,
        repair: bool,
        check_sigs: bool,
    ) -> Result<Option<(Temp, PathInfo)>, StoreError> {
        self.check_writable()?;
        if check_sigs {
            let (require, keys) = lock(&self.sig_policy).clone();
            if require
                && !crate::sigs::is_content_addressed(&self.cfg.store_dir, info)
                && !crate::sigs::is_signed(&self.cfg.store_dir, info, &keys)
            {
                return Err(StoreError::Other(format!(
                    "cannot add path '{}' because it lacks a valid signature",
                    self.print(&info.path)
                )));
            }
        }
        self.add_temp_root(&info.path)?;
        if !repair && self.is_valid(&info.path)? {
            // Nix still reads the archive the client sends.
            io::copy(nar, &mut io::sink())?;
            return Ok(None);
        }
        let tmp = Temp(Some(self.temp_path("nar")?));
        let mut hr = HashingReader::new(&mut *nar);
        let mut rest = Restorer::new(tmp.path(), false);
        nar::parse(
            &mut hr,
            &mut rest,
            ParseOptions {
                case_hack: self.cfg.case_hack,
            },
        )
        .map_err(nar_err)?;
        let (hash, size, _) = hr.finish();
        if hash != info.nar_hash {
            return Err(StoreError::Other(format!(
                "hash mismatch importing path '{}';\n  specified: {}\n  got:       {}",
                self.print(&info.path),
                info.nar_hash.encode(crate::hash::Encoding::Nix32, true),
                hash.encode(crate::hash::Encoding::Nix32, true)
            )));
        }
        if info.nar_size != 0 && size != info.nar_size {
            return Err(StoreError::Other(format!(
                "size mismatch importing path '{}';\n  specified: {}\n  got:       {}",
                self.print(&info.path),
                info.nar_size,
                size
            )));
        }
        let mut info = info.clone();
        info.nar_size = size;
        Ok(Some((tmp, info)))
    }

    /// Common tail of every addition: lock, install unless valid, register. The path lock
    /// (`<path>.lock`, the one Nix takes too) is held from the validity check to the
    /// registration, so that two processes adding one path do it one after the other, and
    /// the second finds it valid. If registering fails, the installed path is removed
    /// again: nothing unregistered is left behind.
    fn finish_add(&self, tmp: Temp, info: PathInfo) -> Result<StorePath, StoreError> {
        self.auto_gc(true);
        let p = info.path.clone();
        self.add_temp_root(&p)?;
        // A path whose bytes are there is usually valid already: then no lock is taken.
        // One whose bytes are not there is not valid (short of a damaged store, which the
        // check under the lock still sees), and a `stat` costs less than a read
        // transaction (0.3 against 3 µs, per small addition through the daemon).
        let there = fs::symlink_metadata(self.real_path(&p)).is_ok();
        if there && self.is_valid(&p)? {
            return Ok(p);
        }
        let _lock = PathLock::lock(&self.real_path(&p))?;
        if self.is_valid(&p)? {
            return Ok(p);
        }
        canonicalise(tmp.path())?;
        self.install(tmp, &p)?;
        self.auto_optimise(&p)?;
        if let Err(e) = self.register_valid_paths(&[info]) {
            // Still invalid (we hold the lock): take the bytes back out.
            if !self.is_valid(&p).unwrap_or(true) {
                let real = self.real_path(&p);
                let _ = nar::remove_tree(&real);
            }
            return Err(e);
        }
        Ok(p)
    }

    /// Adds a path from a NAR stream whose metadata (except the NAR hash and size, which are
    /// computed) the caller gives through `info_for` once the archive has been read. With
    /// `repair`, an existing valid path is replaced too.
    pub fn add_from_nar<R: Read>(
        &self,
        r: R,
        info_for: impl FnOnce(&mut R, Hash, u64) -> Result<PathInfo, StoreError>,
    ) -> Result<StorePath, StoreError> {
        self.check_writable()?;
        let tmp = Temp(Some(self.temp_path("import")?));
        let mut hr = HashingReader::new(r);
        let mut rest = Restorer::new(tmp.path(), false);
        nar::parse(
            &mut hr,
            &mut rest,
            ParseOptions {
                case_hack: self.cfg.case_hack,
            },
        )
        .map_err(nar_err)?;
        let (hash, size, mut r) = hr.finish();
        let info = info_for(&mut r, hash, size)?;
        self.finish_add(tmp, info)
    }
}

/// Nix's topological sort: a depth-first walk in path order that puts every path after
/// everything referring to it (within `paths`). On a cycle, returns the two paths.
pub fn topo_sort(
    paths: &BTreeSet<StorePath>,
    refs: &dyn Fn(&StorePath) -> BTreeSet<StorePath>,
) -> Result<Vec<StorePath>, (StorePath, StorePath)> {
    fn visit(
        p: &StorePath,
        parent: Option<&StorePath>,
        paths: &BTreeSet<StorePath>,
        refs: &dyn Fn(&StorePath) -> BTreeSet<StorePath>,
        visited: &mut BTreeSet<StorePath>,
        parents: &mut BTreeSet<StorePath>,
        sorted: &mut Vec<StorePath>,
    ) -> Result<(), (StorePath, StorePath)> {
        if parents.contains(p) {
            return Err((p.clone(), parent.cloned().unwrap_or_else(|| p.clone())));
        }
        if !visited.insert(p.clone()) {
            return Ok(());
        }
        parents.insert(p.clone());
        for r in refs(p) {
            if r != *p && paths.contains(&r) {
                visit(&r, Some(p), paths, refs, visited, parents, sorted)?;
            }
        }
        sorted.push(p.clone());
        parents.remove(p);
        Ok(())
    }
    let mut sorted = Vec::new();
    let mut visited = BTreeSet::new();
    let mut parents = BTreeSet::new();
    for p in paths {
        visit(
            p,
            None,
            paths,
            refs,
            &mut visited,
            &mut parents,
            &mut sorted,
        )?;
    }
    sorted.reverse();
    Ok(sorted)
}

/// The content-address field of a path added with `method`/`hash`.
pub fn fixed_ca(method: Ingestion, hash: &Hash) -> String {
    format!(
        "fixed:{}{}:{}",
        if method == Ingestion::Recursive {
            "r:"
        } else {
            ""
        },
        hash.algo,
        hash.to_nix32()
    )
}

impl Store for LocalStore {
    fn dir(&self) -> &StoreDir {
        &self.cfg.store_dir
    }

    fn add_text(
        &self,
        name: &str,
        text: &[u8],
        refs: &BTreeSet<StorePath>,
    ) -> Result<StorePath, StoreError> {
        let text_hash = Hash::sha256(text);
        let path = self.cfg.store_dir.make_text_path(name, &text_hash, refs)?;
        if self.cfg.read_only {
            lock(&self.session).insert(path.clone());
            return Ok(path);
        }
        self.add_temp_root(&path)?;
        if self.is_valid(&path)? {
            return Ok(path);
        }
        let tmp = Temp(Some(self.temp_path("text")?));
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(tmp.path())
            .map_err(|e| io_at(&e, "creating file", tmp.path()))?;
        f.write_all(text)
            .map_err(|e| io_at(&e, "writing to file", tmp.path()))?;
        drop(f);
        let mut w = HashingWriter {
            hashers: vec![Hasher::new(HashAlgo::Sha256)],
            count: 0,
        };
        nar::dump_bytes(text, false, &mut w)?;
        let nar_hash = w.hashers.remove(0).finish();
        let mut info = PathInfo::new(path, nar_hash, w.count);
        info.references = refs.clone();
        info.ca = Some(format!("text:sha256:{}", text_hash.to_nix32()));
        self.finish_add(tmp, info)
    }

    fn add_path(
        &self,
        name: &str,
        src: &Path,
        method: Ingestion,
        algo: HashAlgo,
        filter: Filter<'_>,
    ) -> Result<StorePath, StoreError> {
        if self.cfg.read_only {
            let p = content_path(&self.cfg.store_dir, name, src, method, algo, filter)?.0;
            lock(&self.session).insert(p.clone());
            return Ok(p);
        }
        // Check the name before copying anything.
        crate::path::check_name(name, name)?;
        let tmp = Temp(Some(self.temp_path("add")?));
        // Copy first, then hash the copy: what is hashed is exactly what gets installed.
        let ca_hash = match method {
            Ingestion::Flat => {
                let meta = fs::metadata(src).map_err(|e| io_at(&e, "getting status of", src))?;
                if meta.is_dir() {
                    return Err(StoreError::io(
                        "reading from file",
                        &io::Error::from(io::ErrorKind::IsADirectory),
                    ));
                }
                if !meta.is_file() {
                    return Err(StoreError::Other(format!(
                        "file '{}' has an unsupported type",
                        src.display()
                    )));
                }
                copy_tree(src, tmp.path(), &mut |_| Ok(true))?;
                let mut h = Hasher::new(algo);
                let mut f =
                    File::open(tmp.path()).map_err(|e| io_at(&e, "opening file", tmp.path()))?;
                io::copy(&mut f, &mut h)?;
                h.finish()
            }
            Ingestion::Recursive => {
                copy_tree(src, tmp.path(), filter)?;
                Hash::zero(algo)
            }
        };
        let flat = (method == Ingestion::Flat).then_some(ca_hash);
        let info = self.ca_info(tmp.path(), name, method, algo, flat, &BTreeSet::new(), None)?;
        self.finish_add(tmp, info)
    }

    fn references(&self, p: &StorePath) -> Result<BTreeSet<StorePath>, StoreError> {
        Ok(self.path_info(p)?.map(|i| i.references).unwrap_or_default())
    }

    fn is_valid(&self, p: &StorePath) -> Result<bool, StoreError> {
        if self.cfg.read_only && lock(&self.session).contains(p) {
            return Ok(true);
        }
        lock(&self.db).is_valid(p)
    }

    fn real_path(&self, p: &StorePath) -> PathBuf {
        self.cfg.real_dir.join(p.base_name())
    }

    fn uri(&self) -> String {
        if self.cfg.real_dir == Path::new(self.cfg.store_dir.as_str()) {
            "local".into()
        } else {
            match self.cfg.real_dir.parent().and_then(Path::parent) {
                Some(root) if self.cfg.real_dir.ends_with("nix/store") => {
                    root.display().to_string()
                }
                _ => format!("local?real={}", self.cfg.real_dir.display()),
            }
        }
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
        self.check_writable()?;
        crate::path::check_name(name, name)?;
        let tmp = Temp(Some(self.temp_path("dump")?));
        // The archive as it came, when it is what a dump of the new tree gives.
        let mut received = None;
        let ca_hash = match method {
            Ingestion::Flat => {
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o644)
                    .open(tmp.path())
                    .map_err(|e| io_at(&e, "creating file", tmp.path()))?;
                let mut h = Hasher::new(algo);
                let mut buf = vec![0u8; 65536];
                loop {
                    let n = dump.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                    f.write_all(&buf[..n])
                        .map_err(|e| io_at(&e, "writing to file", tmp.path()))?;
                }
                Some(h.finish())
            }
            Ingestion::Recursive => {
                let mut hr = HashingReader::new(&mut *dump);
                let mut rest = Restorer::new(tmp.path(), false);
                nar::parse(
                    &mut hr,
                    &mut rest,
                    ParseOptions {
                        case_hack: self.cfg.case_hack,
                    },
                )
                .map_err(nar_err)?;
                // The parser takes only canonical archives (entries sorted, each name
                // once), and the tree restored from one dumps to the same bytes; with the
                // case hack the names on disk differ, so the tree is dumped again.
                if !self.cfg.case_hack {
                    let (h, n, _) = hr.finish();
                    received = Some((h, n));
                }
                None
            }
        };
        let info = self.ca_info(tmp.path(), name, method, algo, ca_hash, refs, received)?;
        if repair && self.is_valid(&info.path)? {
            self.replace(tmp, &info)?;
            return Ok(info);
        }
        self.finish_add(tmp, info.clone())?;
        Ok(info)
    }

    fn add_nar(
        &self,
        info: &PathInfo,
        nar: &mut dyn Read,
        repair: bool,
        check_sigs: bool,
    ) -> Result<(), StoreError> {
        let Some((tmp, info)) = self.restore_nar(info, nar, repair, check_sigs)? else {
            return Ok(());
        };
        if repair && self.is_valid(&info.path)? {
            return self.replace(tmp, &info);
        }
        self.finish_add(tmp, info).map(|_| ())
    }

    /// Installs the path under its lock and leaves its registration to [`commit_added`],
    /// which makes a whole group valid with one sync and one transaction.
    ///
    /// [`commit_added`]: Store::commit_added
    fn add_nar_deferred(
        &self,
        info: &PathInfo,
        nar: &mut dyn Read,
        check_sigs: bool,
    ) -> Result<(), StoreError> {
        let Some((tmp, info)) = self.restore_nar(info, nar, false, check_sigs)? else {
            return Ok(());
        };
        self.auto_gc(true);
        let p = info.path.clone();
        // The same path twice in a group: its lock is ours already.
        if lock(&self.deferred).iter().any(|(i, _)| i.path == p) {
            return Ok(());
        }
        let path_lock = PathLock::lock(&self.real_path(&p))?;
        if self.is_valid(&p)? {
            return Ok(());
        }
        canonicalise(tmp.path())?;
        let real = self.real_path(&p);
        if fs::symlink_metadata(&real).is_ok() {
            nar::remove_tree(&real).map_err(|e| io_at(&e, "deleting", &real))?;
        }
        fs::rename(tmp.path(), &real).map_err(|e| io_at(&e, "moving to", &real))?;
        tmp.keep();
        lock(&self.deferred).push((info, path_lock));
        Ok(())
    }

    fn commit_added(&self) -> Result<(), StoreError> {
        let group = std::mem::take(&mut *lock(&self.deferred));
        if group.is_empty() {
            return Ok(());
        }
        let r = (|| {
            if self.cfg.fsync {
                sync_fs(&self.cfg.real_dir)?;
            }
            for (i, _) in &group {
                self.auto_optimise(&i.path)?;
            }
            let infos: Vec<PathInfo> = group.iter().map(|(i, _)| i.clone()).collect();
            self.register_valid_paths(&infos)
        })();
        if r.is_err() {
            // Still invalid (their locks are held): take the bytes back out.
            for (i, _) in &group {
                if !self.is_valid(&i.path).unwrap_or(true) {
                    let _ = nar::remove_tree(&self.real_path(&i.path));
                }
            }
        }
        r
    }

    fn add_signatures(&self, p: &StorePath, sigs: &[String]) -> Result<(), StoreError> {
        self.check_writable()?;
        let mut info = Store::query_path_info(self, p)?;
        for s in sigs {
            if !info.sigs.contains(s) {
                info.sigs.push(s.clone());
            }
        }
        lock(&self.db).register(&[info], &BTreeMap::new())
    }

    fn path_info(&self, p: &StorePath) -> Result<Option<PathInfo>, StoreError> {
        if self.cfg.read_only && lock(&self.session).contains(p) {
            return Ok(None);
        }
        lock(&self.db).path_info(p)
    }

    fn query_all_valid(&self) -> Result<BTreeSet<StorePath>, StoreError> {
        lock(&self.db).all_valid()
    }

    fn referrers(&self, p: &StorePath) -> Result<BTreeSet<StorePath>, StoreError> {
        lock(&self.db).referrers(p)
    }

    fn valid_derivers(&self, p: &StorePath) -> Result<BTreeSet<StorePath>, StoreError> {
        lock(&self.db).valid_derivers(p)
    }

    fn path_from_hash_part(&self, hash: &str) -> Result<Option<StorePath>, StoreError> {
        lock(&self.db).path_from_hash_part(hash)
    }

    fn query_realisation(
        &self,
        id: &crate::realisation::DrvOutput,
    ) -> Result<Option<crate::realisation::Realisation>, StoreError> {
        lock(&self.db).realisation(id)
    }

    fn register_drv_output(&self, r: &crate::realisation::Realisation) -> Result<(), StoreError> {
        if !self.ca_derivations_enabled() {
            return Err(crate::drv_check::DrvError::Experimental("ca-derivations").into());
        }
        self.check_writable()?;
        let mut db = lock(&self.db);
        if !self
            .ca_schema_ready
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            db.ensure_ca_schema(&self.cfg.state_dir.join("db"))?;
            self.ca_schema_ready
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        db.register_realisation(r)
    }

    fn nar_from_path(&self, p: &StorePath, out: &mut dyn Write) -> Result<(), StoreError> {
        if !self.is_valid(p)? {
            return Err(StoreError::Other(format!(
                "path '{}' is not valid",
                self.print(p)
            )));
        }
        nar::dump_with(
            &self.real_path(p),
            out,
            &mut |_| Ok(true),
            self.cfg.case_hack,
        )
        .map_err(nar_err)
    }

    fn build_log(&self, drv: &StorePath) -> Result<Option<Vec<u8>>, StoreError> {
        crate::logs::read_log(&self.cfg.log_dir, drv).map_err(StoreError::from)
    }

    fn add_build_log(&self, drv: &StorePath, log: &[u8]) -> Result<(), StoreError> {
        self.check_writable()?;
        crate::logs::write_log(&self.cfg.log_dir, drv, log).map_err(StoreError::from)
    }

    fn build_paths(&self, targets: &[DerivedPath], mode: BuildMode) -> Result<(), StoreError> {
        self.realiser()?.build_paths(self, targets, mode, None)
    }

    fn build_paths_from(
        &self,
        targets: &[DerivedPath],
        mode: BuildMode,
        eval: &(dyn Store + Sync),
    ) -> Result<(), StoreError> {
        self.realiser()?
            .build_paths(self, targets, mode, Some(eval))
    }

    fn query_missing_from(
        &self,
        targets: &[DerivedPath],
        eval: &(dyn Store + Sync),
    ) -> Result<Missing, StoreError> {
        self.realiser()?.query_missing(self, targets, Some(eval))
    }

    fn build_derivation(
        &self,
        drv_path: &StorePath,
        drv: &Derivation,
        mode: BuildMode,
    ) -> Result<BuildResult, StoreError> {
        self.realiser()?.build_derivation(self, drv_path, drv, mode)
    }

    fn query_missing(&self, targets: &[DerivedPath]) -> Result<Missing, StoreError> {
        self.realiser()?.query_missing(self, targets, None)
    }

    fn ensure_path(&self, p: &StorePath) -> Result<(), StoreError> {
        if self.is_valid(p)? {
            return Ok(());
        }
        self.build_paths(&[DerivedPath::Opaque(p.clone())], BuildMode::Normal)
    }

    fn add_temp_root(&self, p: &StorePath) -> Result<(), StoreError> {
        LocalStore::add_temp_root(self, p)
    }

    fn add_indirect_root(&self, link: &Path) -> Result<(), StoreError> {
        let auto = self.cfg.state_dir.join("gcroots/auto");
        create_dirs(&auto)?;
        let name = Hash::of(
            HashAlgo::Sha1,
            std::os::unix::ffi::OsStrExt::as_bytes(link.as_os_str()),
        )
        .to_nix32();
        let root = auto.join(name);
        let _ = fs::remove_file(&root);
        std::os::unix::fs::symlink(link, &root).map_err(|e| io_at(&e, "creating symlink", &root))
    }

    fn find_roots(&self, censor: bool) -> Result<Roots, StoreError> {
        crate::gc::find_roots(self, censor)
    }

    fn collect_garbage(&self, opts: &GcOptions) -> Result<GcResult, StoreError> {
        self.check_writable()?;
        let policy = *lock(&self.gc_policy);
        crate::gc::collect_garbage(self, opts, policy)
    }

    fn query_substitutable(
        &self,
        paths: &BTreeSet<StorePath>,
    ) -> Result<BTreeMap<StorePath, (PathInfo, u64)>, StoreError> {
        match self.realiser.get() {
            Some(r) => r.query_substitutable(self, paths),
            None => Ok(BTreeMap::new()),
        }
    }

    fn optimise_store(&self) -> Result<(), StoreError> {
        self.check_writable()?;
        let st = self.optimise_all()?;
        self.log(Log::Info(format!(
            "{} freed by hard-linking {} files",
            crate::optimise::show_bytes(st.bytes_freed),
            st.files_linked
        )));
        Ok(())
    }

    fn verify_store(&self, check_contents: bool, repair: bool) -> Result<bool, StoreError> {
        let mut rep = |p: &StorePath| self.repair_path(p).map_err(|e| e.to_string());
        crate::ops::verify(
            self,
            check_contents,
            if repair { Some(&mut rep) } else { None },
            &mut |m| self.log(m),
        )
    }

    fn register_validity(
        &self,
        r: &mut dyn io::BufRead,
        reregister: bool,
        hash_given: bool,
        canonicalise: bool,
    ) -> Result<(), StoreError> {
        crate::ops::register_validity(self, r, reregister, hash_given, canonicalise)
    }
}

impl LocalStore {
    /// The metadata of the content-addressed path `name` whose bytes are at `tmp`: what was
    /// written is hashed as it will be installed (its NAR hash and size, and for `Recursive`
    /// its content hash as `algo`); `flat_hash` is the content hash of a `Flat` file.
    /// `received`: the SHA-256 and size of the archive the tree was restored from, which
    /// a SHA-256 `Recursive` addition takes instead of dumping the tree again.
    #[allow(clippy::too_many_arguments)]
    fn ca_info(
        &self,
        tmp: &Path,
        name: &str,
        method: Ingestion,
        algo: HashAlgo,
        flat_hash: Option<Hash>,
        refs: &BTreeSet<StorePath>,
        received: Option<(Hash, u64)>,
    ) -> Result<PathInfo, StoreError> {
        if let Some((nar_hash, size)) = received.filter(|(h, _)| {
            method == Ingestion::Recursive && algo == HashAlgo::Sha256 && h.algo == HashAlgo::Sha256
        }) {
            let path = self
                .cfg
                .store_dir
                .make_fixed_output_path(method, &nar_hash, name, refs, false)?;
            let mut info = PathInfo::new(path, nar_hash.clone(), size);
            info.references = refs.clone();
            info.ca = Some(fixed_ca(method, &nar_hash));
            return Ok(info);
        }
        let mut w = HashingWriter {
            hashers: vec![Hasher::new(HashAlgo::Sha256)],
            count: 0,
        };
        if method == Ingestion::Recursive && algo != HashAlgo::Sha256 {
            w.hashers.push(Hasher::new(algo));
        }
        nar::dump_with(tmp, &mut w, &mut |_| Ok(true), self.cfg.case_hack).map_err(nar_err)?;
        let size = w.count;
        let mut hs = w.hashers.into_iter().map(Hasher::finish);
        let nar_hash = hs.next().unwrap_or_else(|| Hash::zero(HashAlgo::Sha256));
        let ca_hash = match flat_hash {
            Some(h) => h,
            None => hs.next().unwrap_or_else(|| nar_hash.clone()),
        };
        let path = self
            .cfg
            .store_dir
            .make_fixed_output_path(method, &ca_hash, name, refs, false)?;
        let mut info = PathInfo::new(path, nar_hash, size);
        info.references = refs.clone();
        info.ca = Some(fixed_ca(method, &ca_hash));
        Ok(info)
    }

    /// Replaces the bytes of the valid path `info.path` with the finished temporary `tmp`
    /// (repair), and records its new hash.
    fn replace(&self, tmp: Temp, info: &PathInfo) -> Result<(), StoreError> {
        let _lock = PathLock::lock(&self.real_path(&info.path))?;
        canonicalise(tmp.path())?;
        self.install(tmp, &info.path)?;
        lock(&self.db).update_hash(&info.path, &info.nar_hash, info.nar_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn test_store(root: &Path) -> LocalStore {
        LocalStore::open(LocalConfig {
            fsync: true,
            ..LocalConfig::chroot(root)
        })
        .unwrap()
    }

    thread_local! {
        /// The file system syncs this thread made.
        pub(super) static SYNCS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    }

    #[test]
    fn sync_before_registering_syncs_each_addition_and_only_then() {
        let tmp = tempfile::tempdir().unwrap();
        let mut cfg = test_store(tmp.path()).config().clone();
        for (fsync, name) in [(true, "synced"), (false, "not-synced")] {
            cfg.fsync = fsync;
            let store = LocalStore::open(cfg.clone()).unwrap();
            let before = SYNCS.with(|n| n.get());
            let p = store.add_text(name, b"x", &BTreeSet::new()).unwrap();
            assert!(store.is_valid(&p).unwrap());
            let syncs = SYNCS.with(|n| n.get()) - before;
            assert_eq!(syncs, u32::from(fsync), "{name}");
        }
    }

    #[test]
    fn recursive_additions_hash_the_archive_as_a_dump_of_the_tree_would() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        fs::create_dir_all(src.join("d")).unwrap();
        fs::write(src.join("d/x"), b"x").unwrap();
        fs::write(src.join("run"), b"#!/bin/sh\n").unwrap();
        fs::set_permissions(src.join("run"), fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("d/x", src.join("link")).unwrap();
        let mut nar = Vec::new();
        nar::dump_with(&src, &mut nar, &mut |_| Ok(true), false).unwrap();
        let mut infos = Vec::new();
        // Without the case hack the archive's own hash is taken; with it, the tree is
        // dumped again.
        for (case_hack, dir) in [(false, "a"), (true, "b")] {
            let mut cfg = test_store(&tmp.path().join(dir)).config().clone();
            cfg.case_hack = case_hack;
            let store = LocalStore::open(cfg).unwrap();
            let info = store
                .add_from_dump(
                    "t",
                    Ingestion::Recursive,
                    HashAlgo::Sha256,
                    &BTreeSet::new(),
                    &mut &nar[..],
                    false,
                )
                .unwrap();
            assert_eq!(info.nar_hash, Hash::sha256(&nar));
            assert_eq!(info.nar_size, nar.len() as u64);
            let mut again = Vec::new();
            nar::dump_with(
                &store.real_path(&info.path),
                &mut again,
                &mut |_| Ok(true),
                false,
            )
            .unwrap();
            assert_eq!(again, nar);
            infos.push(info);
        }
        assert_eq!(infos[0].path, infos[1].path);
        assert_eq!(infos[0].ca, infos[1].ca);
    }

    #[test]
    fn io_errors_keep_their_kind() {
        let tmp = tempfile::tempdir().unwrap();
        let store = test_store(tmp.path());
        let p = store
            .dir()
            .parse("/nix/store/00000000000000000000000000000000-missing.drv")
            .unwrap();
        let e = Store::read_derivation(&store, &p).unwrap_err();
        assert_eq!(e.io_kind(), Some(io::ErrorKind::NotFound));
        assert_eq!(
            e.to_string(),
            format!(
                "opening file '{}': No such file or directory",
                tmp.path().join("nix/store").join(p.base_name()).display()
            )
        );
        assert_eq!(StoreError::Other("x".into()).io_kind(), None);
    }

    #[test]
    fn two_stores_of_one_state_dir_share_the_temp_roots_file() {
        let tmp = tempfile::tempdir().unwrap();
        let one = test_store(tmp.path());
        let a = one.add_text("a", b"a", &BTreeSet::new()).unwrap();
        let two = test_store(tmp.path());
        let b = two.add_text("b", b"b", &BTreeSet::new()).unwrap();
        let file = tmp
            .path()
            .join("nix/var/nix/temproots")
            .join(std::process::id().to_string());
        let text = fs::read_to_string(&file).unwrap();
        assert!(
            text.contains(&one.print(&a)) && text.contains(&two.print(&b)),
            "the first store's roots survive the second: {text:?}"
        );
        drop(one);
        let c = two.add_text("c", b"c", &BTreeSet::new()).unwrap();
        assert!(fs::read_to_string(&file).unwrap().contains(&two.print(&c)));
        drop(two);
        assert!(!file.exists(), "removed with the last store");
    }

    #[test]
    fn deferred_additions_become_valid_together() {
        let tmp = tempfile::tempdir().unwrap();
        let from = test_store(&tmp.path().join("from"));
        let a = from.add_text("a", b"aaa", &BTreeSet::new()).unwrap();
        let b = from
            .add_text("b", from.print(&a).as_bytes(), &[a.clone()].into())
            .unwrap();
        let to = test_store(&tmp.path().join("to"));
        let send = |p: &StorePath| {
            let info = from.query_path_info(p).unwrap();
            let mut nar = Vec::new();
            from.nar_from_path(p, &mut nar).unwrap();
            to.add_nar_deferred(&info, &mut &nar[..], false).unwrap();
        };
        send(&a);
        send(&b);
        send(&b); // twice in one group: no deadlock on its own lock
                  // Installed, but not valid before the commit.
        assert!(to.real_path(&b).exists());
        assert!(!to.is_valid(&a).unwrap() && !to.is_valid(&b).unwrap());
        to.commit_added().unwrap();
        assert!(to.is_valid(&a).unwrap() && to.is_valid(&b).unwrap());
        assert_eq!(
            to.query_path_info(&b).unwrap().references,
            [a.clone()].into()
        );
        to.commit_added().unwrap();
        // A corrupt archive is refused before anything is installed.
        let c = from.add_text("c", b"ccc", &BTreeSet::new()).unwrap();
        let info = from.query_path_info(&c).unwrap();
        let mut nar = Vec::new();
        from.nar_from_path(&a, &mut nar).unwrap();
        assert!(to.add_nar_deferred(&info, &mut &nar[..], false).is_err());
        to.commit_added().unwrap();
        assert!(!to.is_valid(&c).unwrap() && !to.real_path(&c).exists());
    }

    #[test]
    fn add_text_and_path() {
        let tmp = tempfile::tempdir().unwrap();
        let s = test_store(tmp.path());
        let a = s
            .add_text("hello", b"hello world", &BTreeSet::new())
            .unwrap();
        assert_eq!(a.base_name(), "ivlnvab4q9c7wbsvbfsvgaa15j9p6206-hello");
        assert!(s.is_valid(&a).unwrap());
        let real = s.real_path(&a);
        assert_eq!(fs::read(&real).unwrap(), b"hello world");
        let m = fs::symlink_metadata(&real).unwrap();
        assert_eq!((m.mode() & 0o7777, m.mtime()), (0o444, 1));
        let b = s
            .add_text("b", s.print(&a).as_bytes(), &[a.clone()].into())
            .unwrap();
        assert_eq!(
            s.query_path_info(&b).unwrap().references,
            [a.clone()].into()
        );
        assert_eq!(s.referrers(&a).unwrap(), [b.clone()].into());
        assert_eq!(
            s.closure(&[b.clone()].into(), false, false).unwrap(),
            [a.clone(), b.clone()].into()
        );
        assert_eq!(
            s.topo_sort(&[a.clone(), b.clone()].into()).unwrap(),
            vec![b.clone(), a.clone()]
        );

        let src = tmp.path().join("src");
        fs::create_dir(&src).unwrap();
        fs::write(src.join("f"), "x").unwrap();
        let c = s
            .add_path(
                "src",
                &src,
                Ingestion::Recursive,
                HashAlgo::Sha256,
                &mut |_| Ok(true),
            )
            .unwrap();
        let (want, _) = content_path(
            s.dir(),
            "src",
            &src,
            Ingestion::Recursive,
            HashAlgo::Sha256,
            &mut |_| Ok(true),
        )
        .unwrap();
        assert_eq!(c, want);
        let info = s.query_path_info(&c).unwrap();
        assert_eq!(
            hash_path(&s.real_path(&c), false).unwrap(),
            (info.nar_hash, info.nar_size)
        );
        // No temporaries are left.
        let left: Vec<_> = fs::read_dir(tmp.path().join("nix/store"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with(".ferrix"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
