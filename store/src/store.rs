//! What evaluation needs from a store, and a store that only computes paths
//! (`--readonly-mode`, or no writable store).

use crate::db::PathInfo;
use crate::derivation::Derivation;
use crate::hash::{Hash, HashAlgo, Hasher};
use crate::nar;
use crate::path::{Ingestion, PathError, StoreDir, StorePath};
use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// A store operation that failed; the message is what the user sees after `error: `.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Path(#[from] PathError),
    /// A `.drv` the store refuses to accept or build.
    #[error(transparent)]
    Derivation(#[from] crate::drv_check::DrvError),
    /// The garbage collector refused.
    #[error(transparent)]
    Gc(#[from] crate::gc::GcError),
    /// An I/O error: what failed and why (Nix's wording), and the error's kind for code
    /// that acts on it.
    #[error("{msg}")]
    Io { kind: io::ErrorKind, msg: String },
    #[error("{0}")]
    Other(String),
    /// An operation the store does not offer.
    #[error("{0}")]
    Unsupported(String),
    /// A build failed; `status` is the exit status Nix gives such a failure.
    #[error("{msg}")]
    Build { msg: String, status: i32 },
}

impl StoreError {
    /// Whether Nix reports this as a usage error (followed by "Try '… --help'").
    pub fn is_usage(&self) -> bool {
        matches!(self, StoreError::Derivation(d) if d.is_usage())
    }
}

impl StoreError {
    /// The I/O error `e` while doing `what` (`opening file '/x'`): `what: reason`, as Nix
    /// words it.
    pub fn io(what: impl std::fmt::Display, e: &io::Error) -> StoreError {
        StoreError::Io {
            kind: e.kind(),
            msg: format!("{what}: {}", crate::io_reason(e)),
        }
    }

    /// The kind of I/O error this is, when it is one.
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            StoreError::Io { kind, .. } => Some(*kind),
            _ => None,
        }
    }
}

impl From<io::Error> for StoreError {
    fn from(e: io::Error) -> Self {
        StoreError::Io {
            kind: e.kind(),
            msg: crate::io_reason(&e),
        }
    }
}

pub type Filter<'f> = &'f mut dyn FnMut(&Path) -> io::Result<bool>;

/// The outputs of a derivation that a build asks for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum OutputsSpec {
    /// `drv!*`: every output.
    All,
    /// `drv!a,b`.
    Names(BTreeSet<String>),
}

/// What a build request names: a store path that must be valid (substituted if possible), or
/// outputs of a derivation that must be built.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum DerivedPath {
    Opaque(StorePath),
    Built {
        drv: StorePath,
        outputs: OutputsSpec,
    },
}

impl DerivedPath {
    /// The path's printed form: `/nix/store/…`, `/nix/store/….drv!out,dev` or `…!*`.
    pub fn to_string(&self, dir: &StoreDir) -> String {
        match self {
            DerivedPath::Opaque(p) => dir.display(p),
            DerivedPath::Built { drv, outputs } => {
                let outs = match outputs {
                    OutputsSpec::All => "*".to_string(),
                    OutputsSpec::Names(n) => n.iter().cloned().collect::<Vec<_>>().join(","),
                };
                format!("{}!{outs}", dir.display(drv))
            }
        }
    }

    /// Parses the printed form.
    pub fn parse(dir: &StoreDir, s: &str) -> Result<DerivedPath, PathError> {
        match s.split_once('!') {
            None => Ok(DerivedPath::Opaque(dir.parse(s)?)),
            Some((d, o)) => {
                let outputs = if o == "*" {
                    OutputsSpec::All
                } else {
                    OutputsSpec::Names(o.split(',').map(str::to_string).collect())
                };
                Ok(DerivedPath::Built {
                    drv: dir.parse(d)?,
                    outputs,
                })
            }
        }
    }
}

/// How a build treats outputs that are already valid (the protocol's codes 0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BuildMode {
    /// Valid outputs are left alone.
    #[default]
    Normal,
    /// Valid outputs whose contents changed are rebuilt and replaced.
    Repair,
    /// Valid outputs are rebuilt and compared (`--check`).
    Check,
}

/// How one derivation's build ended (the protocol's status codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BuildStatus {
    #[default]
    Built = 0,
    Substituted = 1,
    AlreadyValid = 2,
    PermanentFailure = 3,
    InputRejected = 4,
    OutputRejected = 5,
    TransientFailure = 6,
    CachedFailure = 7,
    TimedOut = 8,
    MiscFailure = 9,
    DependencyFailed = 10,
    LogLimitExceeded = 11,
    NotDeterministic = 12,
    ResolvesToAlreadyValid = 13,
    NoSubstituters = 14,
}

impl BuildStatus {
    /// Every status, in code order.
    pub const ALL: &'static [BuildStatus] = &[
        BuildStatus::Built,
        BuildStatus::Substituted,
        BuildStatus::AlreadyValid,
        BuildStatus::PermanentFailure,
        BuildStatus::InputRejected,
        BuildStatus::OutputRejected,
        BuildStatus::TransientFailure,
        BuildStatus::CachedFailure,
        BuildStatus::TimedOut,
        BuildStatus::MiscFailure,
        BuildStatus::DependencyFailed,
        BuildStatus::LogLimitExceeded,
        BuildStatus::NotDeterministic,
        BuildStatus::ResolvesToAlreadyValid,
        BuildStatus::NoSubstituters,
    ];

    pub fn from_code(c: u64) -> Option<BuildStatus> {
        use BuildStatus::*;
        Some(match c {
            0 => Built,
            1 => Substituted,
            2 => AlreadyValid,
            3 => PermanentFailure,
            4 => InputRejected,
            5 => OutputRejected,
            6 => TransientFailure,
            7 => CachedFailure,
            8 => TimedOut,
            9 => MiscFailure,
            10 => DependencyFailed,
            11 => LogLimitExceeded,
            12 => NotDeterministic,
            13 => ResolvesToAlreadyValid,
            14 => NoSubstituters,
            _ => return None,
        })
    }

    pub fn success(self) -> bool {
        matches!(
            self,
            BuildStatus::Built
                | BuildStatus::Substituted
                | BuildStatus::AlreadyValid
                | BuildStatus::ResolvesToAlreadyValid
        )
    }
}

/// The outcome of `build_derivation`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BuildResult {
    pub status: BuildStatus,
    pub error_msg: String,
    pub times_built: u64,
    pub is_non_deterministic: bool,
    pub start_time: i64,
    pub stop_time: i64,
    /// The outputs built, by their id (`sha256:…!out`).
    pub built_outputs: std::collections::BTreeMap<String, crate::realisation::Realisation>,
}

/// What realising some paths would take (`queryMissing`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Missing {
    pub will_build: BTreeSet<StorePath>,
    pub will_substitute: BTreeSet<StorePath>,
    pub unknown: BTreeSet<StorePath>,
    pub download_size: u64,
    pub nar_size: u64,
}

/// What the garbage collector is asked to do (the protocol's action codes 0–3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GcAction {
    ReturnLive = 0,
    ReturnDead = 1,
    DeleteDead = 2,
    DeleteSpecific = 3,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcOptions {
    pub action: GcAction,
    pub paths: BTreeSet<StorePath>,
    pub ignore_liveness: bool,
    pub max_freed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GcResult {
    /// Deleted (or, for the `Return*` actions, listed) paths, printed.
    pub paths: Vec<String>,
    pub bytes_freed: u64,
}

/// Roots and where each was found.
pub type Roots = std::collections::BTreeMap<StorePath, BTreeSet<String>>;

/// Every store: the local one, a daemon's, and later SSH and binary-cache stores. Commands
/// reach their store only through this trait. Operations a store does not offer answer
/// [`StoreError::Unsupported`].
pub trait Store {
    /// The logical store directory.
    fn dir(&self) -> &StoreDir;

    /// How the store is named in messages (`local`, `daemon`, `/tmp/chroot`, …).
    fn uri(&self) -> String;

    // ---- additions ----

    /// Adds `text` as a text path (`toFile`, `.drv` files) with references.
    fn add_text(
        &self,
        name: &str,
        text: &[u8],
        refs: &BTreeSet<StorePath>,
    ) -> Result<StorePath, StoreError>;

    /// Adds the file or tree at `src`, hashed as `method`/`algo`, leaving out what `filter`
    /// refuses.
    fn add_path(
        &self,
        name: &str,
        src: &Path,
        method: Ingestion,
        algo: HashAlgo,
        filter: Filter<'_>,
    ) -> Result<StorePath, StoreError>;

    /// Adds a content-addressed path from a dump of its contents: a NAR for `Recursive`,
    /// the file's bytes for `Flat` (the daemon's `AddToStore`).
    fn add_from_dump(
        &self,
        name: &str,
        method: Ingestion,
        algo: HashAlgo,
        refs: &BTreeSet<StorePath>,
        dump: &mut dyn Read,
        repair: bool,
    ) -> Result<PathInfo, StoreError>;

    /// Adds a path with the metadata `info` from its NAR, which must hash to
    /// `info.nar_hash`. With `check_sigs`, a path that is not content-addressed needs a
    /// signature by a trusted key (when `require-sigs` is on).
    fn add_nar(
        &self,
        info: &PathInfo,
        nar: &mut dyn Read,
        repair: bool,
        check_sigs: bool,
    ) -> Result<(), StoreError>;

    /// [`Store::add_nar`] without repair, except that the store may leave making the path
    /// valid to the next [`Store::commit_added`], which then does it for a whole group (one
    /// sync, one transaction). Until then the path is not valid. The default adds it at
    /// once.
    fn add_nar_deferred(
        &self,
        info: &PathInfo,
        nar: &mut dyn Read,
        check_sigs: bool,
    ) -> Result<(), StoreError> {
        self.add_nar(info, nar, false, check_sigs)
    }

    /// Makes the additions of [`Store::add_nar_deferred`] valid.
    fn commit_added(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Adds signatures to a valid path.
    fn add_signatures(&self, _p: &StorePath, _sigs: &[String]) -> Result<(), StoreError> {
        Err(self.unsupported("adding signatures"))
    }

    // ---- queries ----

    /// Whether `p` is registered as valid.
    fn is_valid(&self, p: &StorePath) -> Result<bool, StoreError>;

    /// The metadata of `p`, or `None` when it is not valid.
    fn path_info(&self, p: &StorePath) -> Result<Option<PathInfo>, StoreError>;

    /// The metadata of a valid path; Nix's error for an invalid one.
    fn query_path_info(&self, p: &StorePath) -> Result<PathInfo, StoreError> {
        self.path_info(p)?.ok_or_else(|| {
            StoreError::Other(format!("path '{}' is not valid", self.dir().display(p)))
        })
    }

    /// Which of `paths` are valid.
    fn query_valid_paths(
        &self,
        paths: &BTreeSet<StorePath>,
    ) -> Result<BTreeSet<StorePath>, StoreError> {
        let mut out = BTreeSet::new();
        for p in paths {
            if self.is_valid(p)? {
                out.insert(p.clone());
            }
        }
        Ok(out)
    }

    /// Which of `paths` are valid once the store has substituted what it can of the
    /// others, and kept them from its garbage collector for the session, when the store
    /// does both in one request (the serve protocol's `QueryValidPaths`). `None`: it does
    /// not, and [`copy_paths`] substitutes through [`substitute_paths`].
    fn query_valid_paths_substituting(
        &self,
        _paths: &BTreeSet<StorePath>,
    ) -> Result<Option<BTreeSet<StorePath>>, StoreError> {
        Ok(None)
    }

    /// Adds the paths of `infos`, in that order (references first), their NARs read from
    /// `from`; `each` is told of every path as it starts. Stores that take many paths in
    /// one exchange override it.
    fn add_nars_from(
        &self,
        infos: &[PathInfo],
        from: &(dyn Store + Sync),
        each: &mut dyn FnMut(&PathInfo),
    ) -> Result<(), StoreError> {
        for info in infos {
            each(info);
            pipe_nar(from, &info.path, &mut |r| {
                self.add_nar(info, r, false, false)
            })?;
        }
        Ok(())
    }

    /// Every valid path.
    fn query_all_valid(&self) -> Result<BTreeSet<StorePath>, StoreError>;

    /// The paths `p` refers to. A store that keeps no records knows none.
    fn references(&self, p: &StorePath) -> Result<BTreeSet<StorePath>, StoreError> {
        Ok(self.path_info(p)?.map(|i| i.references).unwrap_or_default())
    }

    /// The valid paths that refer to `p`.
    fn referrers(&self, p: &StorePath) -> Result<BTreeSet<StorePath>, StoreError>;

    /// The valid derivations that have `p` as an output.
    fn valid_derivers(&self, p: &StorePath) -> Result<BTreeSet<StorePath>, StoreError>;

    /// The outputs of the derivation `drv` by name, as the store records them.
    fn derivation_output_map(
        &self,
        drv: &StorePath,
    ) -> Result<std::collections::BTreeMap<String, Option<StorePath>>, StoreError> {
        let d = self.read_derivation(drv)?;
        let mut out = std::collections::BTreeMap::new();
        // Outputs without a path (floating content-addressed ones) are where their
        // realisations say, once built.
        let mut masked: Option<Option<Hash>> = None;
        for (name, o) in &d.outputs {
            let name = String::from_utf8_lossy(name).into_owned();
            let p = if o.path.is_empty() {
                let h = masked.get_or_insert_with(|| {
                    let read = |q: &StorePath| self.read_derivation(q);
                    let mut memo = std::collections::BTreeMap::new();
                    d.hash_modulo(true, &mut |input: &[u8]| {
                        let q = self.dir().parse(&String::from_utf8_lossy(input))?;
                        modulo_hash_via(&read, self.dir(), &q, &mut memo)
                    })
                    .ok()
                });
                match h {
                    Some(h) => self
                        .query_realisation(&crate::realisation::DrvOutput {
                            drv_hash: h.clone(),
                            output: name.clone(),
                        })?
                        .map(|r| r.out_path),
                    None => None,
                }
            } else {
                Some(self.dir().parse(&String::from_utf8_lossy(&o.path))?)
            };
            out.insert(name, p);
        }
        Ok(out)
    }

    /// The outputs of `drv` that have paths, by name.
    fn derivation_output_paths(
        &self,
        drv: &StorePath,
    ) -> Result<std::collections::BTreeMap<String, StorePath>, StoreError> {
        Ok(self
            .derivation_output_map(drv)?
            .into_iter()
            .filter_map(|(n, p)| Some((n, p?)))
            .collect())
    }

    /// The valid path whose hash part is `hash`.
    fn path_from_hash_part(&self, hash: &str) -> Result<Option<StorePath>, StoreError>;

    /// Writes the NAR serialisation of the valid path `p`.
    fn nar_from_path(&self, p: &StorePath, out: &mut dyn Write) -> Result<(), StoreError>;

    /// Where the bytes of `p` can be read on this machine (differs from the logical path in
    /// a chroot store).
    fn real_path(&self, p: &StorePath) -> PathBuf;

    /// Reads and parses a `.drv` from the store.
    fn read_derivation(&self, p: &StorePath) -> Result<Derivation, StoreError> {
        let real = self.real_path(p);
        let text = match std::fs::read(&real) {
            Ok(t) => t,
            Err(e) if self.is_valid(p).unwrap_or(false) => {
                // Not readable here (another machine's store): ask the store for it.
                let mut nar = Vec::new();
                if self.nar_from_path(p, &mut nar).is_err() {
                    return Err(StoreError::io(
                        format!("opening file '{}'", real.display()),
                        &e,
                    ));
                }
                nar::regular_contents(&nar).ok_or_else(|| {
                    StoreError::Other(format!("'{}' is not a regular file", self.dir().display(p)))
                })?
            }
            Err(e) => {
                return Err(StoreError::io(
                    format!("opening file '{}'", real.display()),
                    &e,
                ))
            }
        };
        Derivation::parse(&text).map_err(|e| {
            StoreError::Other(format!(
                "error parsing derivation '{}': {e}",
                self.dir().display(p)
            ))
        })
    }

    /// The build log of the derivation `drv`, if the store kept one.
    fn build_log(&self, _drv: &StorePath) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(None)
    }

    /// Keeps `log` as the build log of `drv`.
    fn add_build_log(&self, _drv: &StorePath, _log: &[u8]) -> Result<(), StoreError> {
        Err(self.unsupported("adding build logs"))
    }

    // ---- building ----

    /// Makes `targets` valid: builds the wanted outputs of derivations, and checks that
    /// plain paths are valid.
    fn build_paths(&self, _targets: &[DerivedPath], _mode: BuildMode) -> Result<(), StoreError> {
        Err(self.unsupported("building"))
    }

    /// Builds a derivation given in full (whose inputs must be valid) without reading it
    /// from the store.
    fn build_derivation(
        &self,
        _drv_path: &StorePath,
        _drv: &Derivation,
        _mode: BuildMode,
    ) -> Result<BuildResult, StoreError> {
        Err(self.unsupported("building"))
    }

    /// The realisation of a derivation output (`ca-derivations`); none by default.
    fn query_realisation(
        &self,
        _id: &crate::realisation::DrvOutput,
    ) -> Result<Option<crate::realisation::Realisation>, StoreError> {
        Ok(None)
    }

    /// Records a realisation (`ca-derivations`).
    fn register_drv_output(&self, _r: &crate::realisation::Realisation) -> Result<(), StoreError> {
        Err(self.unsupported("registering realisations"))
    }

    /// What realising `targets` would build, substitute, or cannot do.
    fn query_missing(&self, _targets: &[DerivedPath]) -> Result<Missing, StoreError> {
        Err(self.unsupported("querying missing paths"))
    }

    /// [`Store::build_paths`] of derivations that are in `eval` (`--eval-store`), not in
    /// this store: they are read from there, and their sources copied here.
    fn build_paths_from(
        &self,
        _targets: &[DerivedPath],
        _mode: BuildMode,
        _eval: &(dyn Store + Sync),
    ) -> Result<(), StoreError> {
        Err(self.unsupported("building derivations of another store"))
    }

    /// [`Store::query_missing`] of derivations that are in `eval`.
    fn query_missing_from(
        &self,
        _targets: &[DerivedPath],
        _eval: &(dyn Store + Sync),
    ) -> Result<Missing, StoreError> {
        Err(self.unsupported("querying missing paths of another store's derivations"))
    }

    /// What the substituters offer of `paths`: the metadata of each path one of them has,
    /// with its download size (Nix's `querySubstitutablePathInfos`).
    fn query_substitutable(
        &self,
        _paths: &BTreeSet<StorePath>,
    ) -> Result<std::collections::BTreeMap<StorePath, (PathInfo, u64)>, StoreError> {
        Ok(Default::default())
    }

    /// Makes `p` valid, building or substituting it if needed.
    fn ensure_path(&self, p: &StorePath) -> Result<(), StoreError> {
        if self.is_valid(p)? {
            Ok(())
        } else {
            Err(StoreError::Other(format!(
                "path '{}' is not valid",
                self.dir().display(p)
            )))
        }
    }

    // ---- roots and garbage ----

    /// Keeps `p` from being garbage collected while this client lives.
    fn add_temp_root(&self, _p: &StorePath) -> Result<(), StoreError> {
        Ok(())
    }

    /// Registers the symlink `link` (outside the store) as a garbage collector root.
    fn add_indirect_root(&self, _link: &Path) -> Result<(), StoreError> {
        Err(self.unsupported("adding garbage collector roots"))
    }

    /// The garbage collector roots. With `censor`, roots other users should not see are
    /// reported under a placeholder name.
    fn find_roots(&self, _censor: bool) -> Result<Roots, StoreError> {
        Err(self.unsupported("finding garbage collector roots"))
    }

    /// Runs the garbage collector.
    fn collect_garbage(&self, _opts: &GcOptions) -> Result<GcResult, StoreError> {
        Err(self.unsupported("garbage collection"))
    }

    /// Deduplicates identical files through `.links`.
    fn optimise_store(&self) -> Result<(), StoreError> {
        Err(self.unsupported("optimising"))
    }

    /// `--verify`: returns whether errors remain.
    fn verify_store(&self, _check_contents: bool, _repair: bool) -> Result<bool, StoreError> {
        Err(self.unsupported("verifying"))
    }

    // ---- local administration ----

    /// `--register-validity` / `--load-db`: registers the paths described in `r` (in
    /// `--dump-db` format) whose bytes are already in place. Only a local store can.
    fn register_validity(
        &self,
        _r: &mut dyn io::BufRead,
        _reregister: bool,
        _hash_given: bool,
        _canonicalise: bool,
    ) -> Result<(), StoreError> {
        Err(self.unsupported("registering paths as valid"))
    }

    /// The error for an operation this store does not offer.
    fn unsupported(&self, what: &str) -> StoreError {
        StoreError::Unsupported(format!("{what} is not supported by store '{}'", self.uri()))
    }
}

/// The closure of `start` under references (or referrers when `flip`), with the valid
/// outputs of derivations (or the derivers of paths when `flip`) when `include_outputs`.
pub fn closure(
    store: &dyn Store,
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
        let next: BTreeSet<StorePath> = if flip {
            if !store.is_valid(&p)? {
                return Err(StoreError::Other(format!(
                    "path '{}' is not valid",
                    store.dir().display(&p)
                )));
            }
            let mut r = store.referrers(&p)?;
            if include_outputs {
                r.extend(store.valid_derivers(&p)?);
            }
            r
        } else {
            let mut r = store.query_path_info(&p)?.references;
            if include_outputs && p.is_derivation() {
                for o in store.derivation_output_paths(&p)?.into_values() {
                    if store.is_valid(&o)? {
                        r.insert(o);
                    }
                }
            }
            r
        };
        done.insert(p);
        todo.extend(next.into_iter().filter(|n| !done.contains(n)));
    }
    Ok(done)
}

/// `paths` ordered so that every path comes before the paths it refers to (Nix's
/// `topoSortPaths`). Invalid paths sort as if they had no references.
pub fn topo_sort(
    store: &dyn Store,
    paths: &BTreeSet<StorePath>,
) -> Result<Vec<StorePath>, StoreError> {
    let mut refs = std::collections::BTreeMap::new();
    for p in paths {
        let r = store
            .path_info(p)?
            .map(|i| i.references)
            .unwrap_or_default();
        refs.insert(p.clone(), r);
    }
    crate::local::topo_sort(paths, &|p| refs.get(p).cloned().unwrap_or_default()).map_err(
        |(a, b)| {
            StoreError::Other(format!(
                "cycle detected in the references of '{}' from '{}'",
                store.dir().display(&a),
                store.dir().display(&b)
            ))
        },
    )
}

/// The content hash of `src` as `method`/`algo` hash it, and the path it gets.
pub fn content_path(
    dir: &StoreDir,
    name: &str,
    src: &Path,
    method: Ingestion,
    algo: HashAlgo,
    filter: Filter<'_>,
) -> Result<(StorePath, Hash), StoreError> {
    let mut h = Hasher::new(algo);
    match method {
        Ingestion::Recursive => nar::dump(src, &mut h, filter)?,
        Ingestion::Flat => {
            let mut f = std::fs::File::open(src)
                .map_err(|e| StoreError::io(format!("opening file '{}'", src.display()), &e))?;
            io::copy(&mut f, &mut h)?;
        }
    }
    let hash = h.finish();
    let p = dir.make_fixed_output_path(method, &hash, name, &BTreeSet::new(), false)?;
    Ok((p, hash))
}

/// The operations of a store that holds no paths (`dummy://`, the read-only store): it
/// knows of none and accepts none.
macro_rules! no_paths {
    () => {
        fn add_from_dump(
            &self,
            _name: &str,
            _method: $crate::path::Ingestion,
            _algo: $crate::HashAlgo,
            _refs: &std::collections::BTreeSet<$crate::path::StorePath>,
            _dump: &mut dyn std::io::Read,
            _repair: bool,
        ) -> Result<$crate::db::PathInfo, $crate::store::StoreError> {
            Err($crate::store::Store::unsupported(self, "adding paths"))
        }

        fn add_nar(
            &self,
            _info: &$crate::db::PathInfo,
            _nar: &mut dyn std::io::Read,
            _repair: bool,
            _check_sigs: bool,
        ) -> Result<(), $crate::store::StoreError> {
            Err($crate::store::Store::unsupported(self, "adding paths"))
        }

        fn path_info(
            &self,
            _p: &$crate::path::StorePath,
        ) -> Result<Option<$crate::db::PathInfo>, $crate::store::StoreError> {
            Ok(None)
        }

        fn query_all_valid(
            &self,
        ) -> Result<std::collections::BTreeSet<$crate::path::StorePath>, $crate::store::StoreError>
        {
            Ok(Default::default())
        }

        fn referrers(
            &self,
            _p: &$crate::path::StorePath,
        ) -> Result<std::collections::BTreeSet<$crate::path::StorePath>, $crate::store::StoreError>
        {
            Ok(Default::default())
        }

        fn valid_derivers(
            &self,
            _p: &$crate::path::StorePath,
        ) -> Result<std::collections::BTreeSet<$crate::path::StorePath>, $crate::store::StoreError>
        {
            Ok(Default::default())
        }

        fn path_from_hash_part(
            &self,
            _hash: &str,
        ) -> Result<Option<$crate::path::StorePath>, $crate::store::StoreError> {
            Ok(None)
        }

        fn nar_from_path(
            &self,
            p: &$crate::path::StorePath,
            _out: &mut dyn std::io::Write,
        ) -> Result<(), $crate::store::StoreError> {
            Err($crate::store::StoreError::Other(format!(
                "path '{}' is not valid",
                self.dir().display(p)
            )))
        }
    };
}
pub(crate) use no_paths;

/// A store that computes paths and writes nothing, as `--readonly-mode` wants. It records
/// nothing, so no path is valid in it; reading one reads the logical path.
pub struct ReadOnlyStore {
    dir: StoreDir,
}

impl ReadOnlyStore {
    pub fn new(dir: StoreDir) -> Self {
        ReadOnlyStore { dir }
    }
}

impl Store for ReadOnlyStore {
    fn dir(&self) -> &StoreDir {
        &self.dir
    }

    fn uri(&self) -> String {
        "readonly".into()
    }

    crate::store::no_paths!();

    fn add_text(
        &self,
        name: &str,
        text: &[u8],
        refs: &BTreeSet<StorePath>,
    ) -> Result<StorePath, StoreError> {
        Ok(self.dir.make_text_path(name, &Hash::sha256(text), refs)?)
    }

    fn add_path(
        &self,
        name: &str,
        src: &Path,
        method: Ingestion,
        algo: HashAlgo,
        filter: Filter<'_>,
    ) -> Result<StorePath, StoreError> {
        Ok(content_path(&self.dir, name, src, method, algo, filter)?.0)
    }

    fn is_valid(&self, _p: &StorePath) -> Result<bool, StoreError> {
        Ok(false)
    }

    fn real_path(&self, p: &StorePath) -> PathBuf {
        PathBuf::from(self.dir.display(p))
    }
}

/// The (unmasked) modulo hash of the derivation `p`, its input derivations read with
/// `read`; `memo` keeps the hashes computed so far.
fn modulo_hash_via(
    read: &dyn Fn(&StorePath) -> Result<Derivation, StoreError>,
    dir: &crate::path::StoreDir,
    p: &StorePath,
    memo: &mut std::collections::BTreeMap<StorePath, Hash>,
) -> Result<Hash, StoreError> {
    if let Some(h) = memo.get(p) {
        return Ok(h.clone());
    }
    let drv = read(p)?;
    let h = drv.hash_modulo(false, &mut |input: &[u8]| {
        let q = dir.parse(&String::from_utf8_lossy(input))?;
        modulo_hash_via(read, dir, &q, memo)
    })?;
    memo.insert(p.clone(), h.clone());
    Ok(h)
}

/// The modulo hash of the derivation `p` in `store` (which need not be valid), with its
/// input derivations read from there too; `memo` keeps the hashes computed so far.
pub fn drv_hash_modulo(
    store: &dyn Store,
    p: &StorePath,
    memo: &mut std::collections::BTreeMap<StorePath, Hash>,
) -> Result<Hash, StoreError> {
    modulo_hash_via(
        &|q: &StorePath| store.read_derivation(q),
        store.dir(),
        p,
        memo,
    )
}

/// Nix's checks of the derivation `drv` read from `p` in `store` (see [`crate::drv_check`]);
/// returns its output paths. `ca_derivations`: whether that experimental feature is on.
pub fn check_derivation_in(
    store: &dyn Store,
    p: &StorePath,
    drv: &Derivation,
    ca_derivations: bool,
) -> Result<std::collections::BTreeMap<String, StorePath>, StoreError> {
    let mut memo = std::collections::BTreeMap::new();
    crate::drv_check::check(
        store.dir(),
        p,
        drv,
        ca_derivations,
        &mut |input: &[u8]| {
            let q = store.dir().parse(&String::from_utf8_lossy(input))?;
            drv_hash_modulo(store, &q, &mut memo)
        },
    )
}

/// Copies the closure of `paths` from `from` into `to` (paths `to` has are skipped), without
/// checking signatures: the caller trusts `from`.
pub fn copy_closure(
    from: &dyn Store,
    to: &dyn Store,
    paths: &BTreeSet<StorePath>,
) -> Result<(), StoreError> {
    let all = closure(from, paths, false, false)?;
    let mut order = topo_sort(from, &all)?;
    order.reverse();
    for p in order {
        if to.is_valid(&p)? {
            continue;
        }
        let info = from.query_path_info(&p)?;
        let mut nar = Vec::new();
        from.nar_from_path(&p, &mut nar)?;
        to.add_nar(&info, &mut &nar[..], false, false)?;
    }
    Ok(())
}

/// Streams the NAR of `p` from `from` into `consume`, through a pipe filled by a thread.
pub fn pipe_nar(
    from: &(dyn Store + Sync),
    p: &StorePath,
    consume: &mut dyn FnMut(&mut dyn Read) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let (mut rx, tx) = std::io::pipe()?;
    std::thread::scope(|s| {
        let producer = s.spawn(move || {
            let mut tx = std::io::BufWriter::with_capacity(1 << 16, tx);
            let r = from.nar_from_path(p, &mut tx);
            let _ = tx.flush();
            r
        });
        let added = consume(&mut rx);
        // Whatever happened, the producer must not wait on a full pipe.
        drop(rx);
        let produced = producer
            .join()
            .unwrap_or_else(|_| Err(StoreError::Other("reading a NAR failed".into())));
        added.and(produced)
    })
}

/// What [`copy_paths`] reports as it goes.
pub enum CopyEvent<'a> {
    /// This many paths are missing and will be copied.
    Count(usize),
    /// This path is being copied.
    Path(&'a StorePath),
}

/// Copies those of `paths` that `to` lacks from `from`, references first, without
/// checking signatures (the caller trusts `from`). With `substitute`, `to` first
/// substitutes what it can. `paths` must be closed under references, or the rest valid
/// in `to`.
pub fn copy_paths(
    from: &(dyn Store + Sync),
    to: &dyn Store,
    paths: &BTreeSet<StorePath>,
    substitute: bool,
    report: &mut dyn FnMut(CopyEvent<'_>),
) -> Result<(), StoreError> {
    let valid = match substitute {
        false => to.query_valid_paths(paths)?,
        true => match to.query_valid_paths_substituting(paths)? {
            Some(v) => v,
            None => {
                let have = to.query_valid_paths(paths)?;
                let missing: BTreeSet<StorePath> = paths.difference(&have).cloned().collect();
                substitute_paths(to, &missing, &mut |_| {})?;
                to.query_valid_paths(paths)?
            }
        },
    };
    let missing: BTreeSet<StorePath> = paths.difference(&valid).cloned().collect();
    report(CopyEvent::Count(missing.len()));
    if missing.is_empty() {
        return Ok(());
    }
    let mut infos = std::collections::BTreeMap::new();
    for p in &missing {
        infos.insert(p.clone(), from.query_path_info(p)?);
    }
    let order = dependency_order(from.dir(), &infos)?;
    let ordered: Vec<PathInfo> = order.iter().filter_map(|p| infos.remove(p)).collect();
    to.add_nars_from(&ordered, from, &mut |i| report(CopyEvent::Path(&i.path)))
}

/// The paths of `infos`, each after those of its references that are among them (the
/// order in which they can be added to a store), or Nix's error for a cycle.
pub fn dependency_order(
    dir: &StoreDir,
    infos: &std::collections::BTreeMap<StorePath, PathInfo>,
) -> Result<Vec<StorePath>, StoreError> {
    let paths: BTreeSet<StorePath> = infos.keys().cloned().collect();
    let mut order = crate::local::topo_sort(&paths, &|p| {
        infos
            .get(p)
            .map(|i| i.references.clone())
            .unwrap_or_default()
    })
    .map_err(|(x, y)| {
        StoreError::Other(format!(
            "cycle detected in the references of '{}' from '{}'",
            dir.display(&x),
            dir.display(&y)
        ))
    })?;
    order.reverse();
    Ok(order)
}

/// Substitutes those of `paths` (not derivations) that `store` can substitute, as Nix's
/// `substitutePaths`: what `query_missing` says will be substituted is realised; a store
/// that cannot tell substitutes nothing, and a failure is a warning for `warn`.
pub fn substitute_paths(
    store: &dyn Store,
    paths: &BTreeSet<StorePath>,
    warn: &mut dyn FnMut(String),
) -> Result<(), StoreError> {
    let targets: Vec<DerivedPath> = paths
        .iter()
        .filter(|p| !p.is_derivation())
        .map(|p| DerivedPath::Opaque(p.clone()))
        .collect();
    if targets.is_empty() {
        return Ok(());
    }
    let missing = match store.query_missing(&targets) {
        Ok(m) => m,
        Err(StoreError::Unsupported(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    if missing.will_substitute.is_empty() {
        return Ok(());
    }
    let subs: Vec<DerivedPath> = missing
        .will_substitute
        .into_iter()
        .map(DerivedPath::Opaque)
        .collect();
    if let Err(e) = store.build_paths(&subs, BuildMode::Normal) {
        warn(e.to_string());
    }
    Ok(())
}
