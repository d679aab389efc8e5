//! Substitution: making paths valid by copying them (and their closures) from binary caches
//! instead of building them, as Nix 2.8's substitution goals do.
//!
//! The caches of `substituters` are opened on first use and tried in order of priority. A
//! path is taken from the first cache that has it with a trusted signature (or that is
//! trusted itself, `?trusted=1`, or when `require-sigs` is off, or for a content-addressed
//! path); its references come first. NARs are streamed from the cache into the store, which
//! checks their hash and size before it registers anything.
//!
//! Substituters that are not binary caches (`ssh://HOST`, a local store) are opened as
//! stores through the program's opener ([`crate::remote::OpenStore`]): their path infos
//! stand for narinfos and their NARs are streamed as they are dumped. Their `priority` is
//! 0 unless `?priority=` says otherwise, and `?trusted=1` trusts them as it trusts a cache.

use crate::remote::OpenStore;
use crate::{emit, Output};
use ferrix_fetch::binary_cache::BinaryCacheStore;
use ferrix_fetch::http::HttpOptions;
use ferrix_fetch::narinfo::NarInfo;
use ferrix_store::local::LocalStore;
use ferrix_store::path::{Ingestion, StorePath};
use ferrix_store::store::{Store, StoreError};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, OnceLock};

/// The settings of substitution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubstSettings {
    /// `substitute`.
    pub enabled: bool,
    /// `substituters` (with `extra-substituters`), in the order given.
    pub substituters: Vec<String>,
    pub require_sigs: bool,
    pub trusted_public_keys: Vec<String>,
    /// `connect-timeout`, `user-agent-suffix` and `http2`.
    pub http: HttpOptions,
    /// `http-connections`: downloads at once (0: no limit).
    pub http_connections: u64,
    /// `max-substitution-jobs`: substitutions at once (at least one).
    pub max_substitution_jobs: u64,
    /// `--fallback`: build when substitution fails.
    pub fallback: bool,
    /// `narinfo-cache-positive-ttl` and `narinfo-cache-negative-ttl`, in seconds.
    pub narinfo_positive_ttl: u64,
    pub narinfo_negative_ttl: u64,
}

impl SubstSettings {
    pub fn from_settings(s: &ferrix_store::settings::Settings) -> SubstSettings {
        SubstSettings {
            enabled: s.substitute,
            substituters: s.substituters.clone(),
            require_sigs: s.require_sigs,
            trusted_public_keys: s.trusted_public_keys.clone(),
            http: HttpOptions::from_settings(s),
            http_connections: s.http_connections,
            max_substitution_jobs: s.max_substitution_jobs,
            fallback: s.fallback,
            narinfo_positive_ttl: s.narinfo_cache_positive_ttl,
            narinfo_negative_ttl: s.narinfo_cache_negative_ttl,
        }
    }
}

/// One path to copy: where from, and what the cache says of it.
#[derive(Debug, Clone)]
pub struct Planned {
    pub cache: usize,
    pub narinfo: NarInfo,
}

/// One substituter: a binary cache, or another store.
enum Source {
    Cache(BinaryCacheStore),
    Store {
        store: Box<dyn Store + Send + Sync>,
        uri: String,
        priority: i64,
        trusted: bool,
    },
}

impl Source {
    fn dir(&self) -> &ferrix_store::path::StoreDir {
        match self {
            Source::Cache(c) => c.dir(),
            Source::Store { store, .. } => store.dir(),
        }
    }

    fn priority(&self) -> i64 {
        match self {
            Source::Cache(c) => c.priority,
            Source::Store { priority, .. } => *priority,
        }
    }

    fn trusted(&self) -> bool {
        match self {
            Source::Cache(c) => c.trusted,
            Source::Store { trusted, .. } => *trusted,
        }
    }

    fn base_url(&self) -> &str {
        match self {
            Source::Cache(c) => c.base_url(),
            Source::Store { uri, .. } => uri,
        }
    }

    /// What the substituter says of `p`: a store's path info stands for a narinfo of
    /// an uncompressed NAR.
    fn narinfo(&self, p: &StorePath) -> Result<Option<NarInfo>, StoreError> {
        match self {
            Source::Cache(c) => c.narinfo(p),
            Source::Store { store, .. } => Ok(store.path_info(p)?.map(|info| NarInfo {
                url: String::new(),
                compression: "none".to_string(),
                file_hash: None,
                file_size: info.nar_size,
                system: String::new(),
                info,
            })),
        }
    }
}

/// Opens the store substituter `uri`, taking its `priority` and `trusted` parameters.
fn open_store_source(open: &OpenStore, uri: &str) -> Result<Source, StoreError> {
    let (base, query) = uri.split_once('?').unwrap_or((uri, ""));
    let mut priority = 0i64;
    let mut trusted = false;
    let mut rest = Vec::new();
    for kv in query.split('&').filter(|kv| !kv.is_empty()) {
        match kv.split_once('=').unwrap_or((kv, "")) {
            ("priority", v) => {
                priority = v.parse().map_err(|_| {
                    StoreError::Other(format!("invalid priority '{v}' of substituter '{uri}'"))
                })?
            }
            ("trusted", v) => trusted = matches!(v, "1" | "true"),
            _ => rest.push(kv),
        }
    }
    let plain = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok(Source::Store {
        store: open(&plain, &[], None)?,
        uri: base.to_string(),
        priority,
        trusted,
    })
}

/// The open caches of a [`SubstSettings`].
pub struct Substituters {
    settings: SubstSettings,
    /// Opens substituters that are not binary caches (none: they are refused).
    opener: Option<Arc<OpenStore>>,
    caches: OnceLock<Vec<Source>>,
    /// Answers so far: the cache and record of each path asked for, `None` when no cache
    /// offers it.
    found: Mutex<BTreeMap<(StorePath, bool), Option<Planned>>>,
    /// The content addresses of paths that are fixed outputs: caches for another store
    /// directory are asked for the same content under their own path.
    ca: Mutex<BTreeMap<StorePath, (Ingestion, ferrix_store::Hash)>>,
}

fn warn(msg: &str) {
    emit(Output::Message(&format!("warning: {msg}")));
}

impl Substituters {
    pub fn new(settings: SubstSettings) -> Substituters {
        Substituters::with_opener(settings, None)
    }

    /// Substituters that open the stores among them (`ssh://`, local) with `opener`.
    pub fn with_opener(settings: SubstSettings, opener: Option<Arc<OpenStore>>) -> Substituters {
        Substituters {
            settings,
            opener,
            caches: OnceLock::new(),
            found: Mutex::new(BTreeMap::new()),
            ca: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn settings(&self) -> &SubstSettings {
        &self.settings
    }

    /// The caches, opened on first use, by priority. A cache that cannot be opened is
    /// reported and left out.
    fn caches(&self, store: &LocalStore) -> &[Source] {
        self.caches.get_or_init(|| {
            if !self.settings.enabled {
                return Vec::new();
            }
            let http = self.settings.http.clone();
            let mut v = Vec::new();
            let mut seen = BTreeSet::new();
            let disk = if self
                .settings
                .substituters
                .iter()
                .any(|u| ferrix_fetch::binary_cache::uses_disk_cache(u))
            {
                ferrix_fetch::narinfo_cache::DiskCache::open_default(
                    self.settings.narinfo_positive_ttl,
                    self.settings.narinfo_negative_ttl,
                )
                .map(std::sync::Arc::new)
            } else {
                None
            };
            for uri in &self.settings.substituters {
                if !seen.insert(uri.clone()) {
                    continue;
                }
                let opened = if ferrix_fetch::binary_cache::is_binary_cache_uri(uri) {
                    BinaryCacheStore::open_with(uri, store.dir().clone(), &http, disk.clone())
                        .map(Source::Cache)
                } else {
                    match &self.opener {
                        Some(open) => open_store_source(&**open, uri),
                        None => Err(StoreError::Unsupported(format!(
                            "substituter '{uri}' is not a binary cache"
                        ))),
                    }
                };
                match opened {
                    Ok(c) => v.push(c),
                    Err(e) => warn(&e.to_string()),
                }
            }
            // A stable sort keeps the given order among equal priorities.
            v.sort_by_key(|c| c.priority());
            v
        })
    }

    /// Records that `p` is the fixed output with content address `method`/`hash`.
    pub fn note_fixed_output(&self, p: &StorePath, method: Ingestion, hash: ferrix_store::Hash) {
        self.ca
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(p.clone(), (method, hash));
    }

    /// Whether any cache is configured at all.
    pub fn any(&self) -> bool {
        self.settings.enabled && !self.settings.substituters.is_empty()
    }

    /// The first cache that offers `p` with a record this store may accept (with
    /// `check_sigs`; without, as Nix's queries see it, any record).
    pub fn find(&self, store: &LocalStore, p: &StorePath, check_sigs: bool) -> Option<Planned> {
        let key = (p.clone(), check_sigs);
        if let Some(f) = self
            .found
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return f.clone();
        }
        let mut got = None;
        let ca = self
            .ca
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(p)
            .cloned();
        for (i, c) in self.caches(store).iter().enumerate() {
            // A cache for another store directory can only offer content-addressed paths,
            // under the path the same content has there.
            let asked = if c.dir() == store.dir() {
                p.clone()
            } else {
                let Some((method, hash)) = &ca else { continue };
                match c.dir().make_fixed_output_path(
                    *method,
                    hash,
                    p.name(),
                    &BTreeSet::new(),
                    false,
                ) {
                    Ok(q) => q,
                    Err(_) => continue,
                }
            };
            let mut n = match c.narinfo(&asked) {
                Ok(Some(n)) => n,
                Ok(None) => continue,
                Err(e) => {
                    emit(Output::Error(&e.to_string()));
                    continue;
                }
            };
            if asked != *p {
                if !n.info.references.is_empty() {
                    continue;
                }
                n.info.path = p.clone();
            }
            if check_sigs && !c.trusted() && self.untrusted(store, &n) {
                warn(&format!(
                    "the substitute for '{}' from '{}' is not signed by any of the keys in 'trusted-public-keys'",
                    store.print(p),
                    c.base_url()
                ));
                continue;
            }
            got = Some(Planned {
                cache: i,
                narinfo: n,
            });
            break;
        }
        self.found
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, got.clone());
        got
    }

    fn untrusted(&self, store: &LocalStore, n: &NarInfo) -> bool {
        self.settings.require_sigs
            && !ferrix_store::sigs::is_content_addressed(store.dir(), &n.info)
            && !ferrix_store::sigs::is_signed(
                store.dir(),
                &n.info,
                &self.settings.trusted_public_keys,
            )
    }

    /// The invalid paths of the closure of `roots` (each even if valid, when `force`) that
    /// some cache offers, and those that none does. The closure is walked a level at a
    /// time, and each level's records are asked for in parallel.
    pub fn explore(
        &self,
        store: &LocalStore,
        roots: &BTreeSet<StorePath>,
        force: bool,
        check_sigs: bool,
    ) -> Result<(BTreeMap<StorePath, Planned>, BTreeSet<StorePath>), StoreError> {
        let mut found: BTreeMap<StorePath, Planned> = BTreeMap::new();
        let mut unknown = BTreeSet::new();
        if !self.any() {
            unknown.extend(roots.iter().cloned());
            return Ok((found, unknown));
        }
        let mut seen = BTreeSet::new();
        let mut level: Vec<(StorePath, bool)> = roots.iter().map(|r| (r.clone(), force)).collect();
        while !level.is_empty() {
            let mut batch = Vec::new();
            for (p, forced) in level.drain(..) {
                if !seen.insert(p.clone()) {
                    continue;
                }
                if !forced && store.is_valid(&p)? {
                    continue;
                }
                batch.push(p);
            }
            for (p, f) in batch.iter().zip(self.find_many(store, &batch, check_sigs)) {
                let Some(f) = f else {
                    unknown.insert(p.clone());
                    continue;
                };
                for r in &f.narinfo.info.references {
                    if r != p && !seen.contains(r) {
                        level.push((r.clone(), false));
                    }
                }
                found.insert(p.clone(), f);
            }
        }
        Ok((found, unknown))
    }

    /// [`Substituters::find`] of each of `paths`, up to `http-connections` at a time.
    fn find_many(
        &self,
        store: &LocalStore,
        paths: &[StorePath],
        check_sigs: bool,
    ) -> Vec<Option<Planned>> {
        let limit = match self.settings.http_connections {
            0 => 25,
            n => n.min(64) as usize,
        };
        let threads = paths.len().min(limit);
        if threads <= 1 {
            return paths
                .iter()
                .map(|p| self.find(store, p, check_sigs))
                .collect();
        }
        // Open the caches once, before the threads ask them.
        self.caches(store);
        let mut out: Vec<Option<Planned>> = vec![None; paths.len()];
        std::thread::scope(|scope| {
            let sink = crate::thread_output();
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let sink = sink.clone();
                    scope.spawn(move || {
                        crate::set_thread_output(sink);
                        (t..paths.len())
                            .step_by(threads)
                            .map(|i| (i, self.find(store, &paths[i], check_sigs)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for h in handles {
                if let Ok(v) = h.join() {
                    for (i, f) in v {
                        out[i] = f;
                    }
                }
            }
        });
        out
    }

    /// Plans copying `roots` (each even if valid, when `force`) and the invalid paths of
    /// their closures into `plan`. Returns false, leaving `plan` as it was, when some path
    /// of the closure cannot be substituted.
    pub fn plan(
        &self,
        store: &LocalStore,
        roots: &BTreeSet<StorePath>,
        force: bool,
        check_sigs: bool,
        plan: &mut BTreeMap<StorePath, Planned>,
    ) -> Result<bool, StoreError> {
        if !self.any() {
            return Ok(false);
        }
        let (found, unknown) = self.explore(store, roots, force, check_sigs)?;
        if !unknown.is_empty() {
            return Ok(false);
        }
        plan.extend(found);
        Ok(true)
    }

    /// Copies the planned paths into `store`, references first, up to `jobs` at a time.
    /// Returns the paths that could not be copied (their errors are reported), with those
    /// that need them: `true` for a failure, `false` when the cache lost the NAR.
    pub fn run(
        &self,
        store: &LocalStore,
        plan: &BTreeMap<StorePath, Planned>,
        repair: bool,
        jobs: usize,
    ) -> BTreeMap<StorePath, bool> {
        let caches = self.caches(store);
        let mut jobs = jobs.max(1);
        if self.settings.http_connections > 0 {
            jobs = jobs.min(self.settings.http_connections as usize);
        }
        // Each path waits for its planned references.
        let mut waiting: BTreeMap<&StorePath, usize> = BTreeMap::new();
        let mut users: BTreeMap<&StorePath, Vec<&StorePath>> = BTreeMap::new();
        for (p, pl) in plan {
            let deps: Vec<&StorePath> = pl
                .narinfo
                .info
                .references
                .iter()
                .filter(|r| *r != p)
                .filter_map(|r| plan.get_key_value(r).map(|(k, _)| k))
                .collect();
            waiting.insert(p, deps.len());
            for d in deps {
                users.entry(d).or_default().push(p);
            }
        }
        let mut ready: Vec<&StorePath> = waiting
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(p, _)| *p)
            .collect();
        ready.reverse();
        let mut failed: BTreeMap<StorePath, bool> = BTreeMap::new();
        // Copies (other than repairs) are installed at once and made valid in groups: one
        // sync and one transaction for up to GROUP paths. A path's references are always
        // in its group or an earlier one, since it starts only once they are installed.
        const GROUP: usize = 256;
        let mut uncommitted: Vec<&StorePath> = Vec::new();
        let mut finished_count = 0u64;
        let commit = |group: &mut Vec<&StorePath>, failed: &mut BTreeMap<StorePath, bool>| {
            if let Err(e) = store.commit_added() {
                emit(Output::Error(&e.to_string()));
                for p in group.iter() {
                    failed.insert((*p).clone(), true);
                }
            }
            group.clear();
        };
        let (tx, rx) = std::sync::mpsc::channel::<(&StorePath, Result<(), Copy>)>();
        // `jobs` workers take the paths whose references are in as they become ready.
        let (job_tx, job_rx) = std::sync::mpsc::channel::<&StorePath>();
        let job_rx = Mutex::new(job_rx);
        std::thread::scope(|scope| {
            let sink = crate::thread_output();
            for _ in 0..jobs.min(plan.len()) {
                let tx = tx.clone();
                let job_rx = &job_rx;
                let sink = sink.clone();
                scope.spawn(move || {
                    crate::set_thread_output(sink);
                    loop {
                        let next = job_rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        let Ok(p) = next else { break };
                        let pl = &plan[p];
                        let r = copy_one(store, &caches[pl.cache], &pl.narinfo, repair);
                        if tx.send((p, r)).is_err() {
                            break;
                        }
                    }
                });
            }
            let mut running = 0usize;
            loop {
                while running < jobs {
                    let Some(p) = ready.pop() else { break };
                    if crate::interrupted() {
                        failed.insert(p.clone(), true);
                        continue;
                    }
                    if job_tx.send(p).is_err() {
                        failed.insert(p.clone(), true);
                        continue;
                    }
                    running += 1;
                }
                if running == 0 {
                    // What is installed but not yet valid becomes valid now.
                    commit(&mut uncommitted, &mut failed);
                    break;
                }
                let Ok((p, r)) = rx.recv() else { break };
                running -= 1;
                finished_count += 1;
                emit(Output::Copied {
                    done: finished_count,
                    total: plan.len() as u64,
                });
                if r.is_ok() && !repair {
                    uncommitted.push(p);
                    if uncommitted.len() >= GROUP {
                        commit(&mut uncommitted, &mut failed);
                    }
                }
                // `None`: copied; `Some(hard)`: failed.
                let res = match r {
                    Ok(()) => None,
                    Err(Copy::Gone(m)) => {
                        emit(Output::Error(&m));
                        Some(false)
                    }
                    Err(Copy::Failed(e)) => {
                        emit(Output::Error(&e.to_string()));
                        Some(true)
                    }
                };
                let mut finished = vec![(p, res)];
                while let Some((q, q_res)) = finished.pop() {
                    if let Some(hard) = q_res {
                        let e = failed.entry(q.clone()).or_insert(hard);
                        *e |= hard;
                    }
                    for u in users.get(q).cloned().unwrap_or_default() {
                        let left = waiting.get_mut(u).expect("planned");
                        *left -= 1;
                        if let Some(hard) = q_res {
                            // A path whose reference failed is never copied; it fails
                            // the same way.
                            let e = failed.entry(u.clone()).or_insert(hard);
                            *e |= hard;
                        }
                        if *left == 0 {
                            match failed.get(u) {
                                Some(h) => finished.push((u, Some(*h))),
                                None => ready.push(u),
                            }
                        }
                    }
                }
            }
            // The workers stop once nothing more can come.
            drop(job_tx);
        });
        if !plan.is_empty() {
            // Whatever was left out (after a failure) ends the display too.
            emit(Output::Copied {
                done: plan.len() as u64,
                total: plan.len() as u64,
            });
        }
        failed
    }
}

/// Copies one path from `source`, streaming its NAR into the store, which checks it.
fn copy_one(store: &LocalStore, source: &Source, n: &NarInfo, repair: bool) -> Result<(), Copy> {
    emit(Output::Message(&format!(
        "copying path '{}' from '{}'...",
        store.print(&n.info.path),
        source.base_url()
    )));
    let mut info = n.info.clone();
    info.registration_time = ferrix_store::db::now();
    info.ultimate = false;
    let cache = match source {
        Source::Cache(c) => c,
        Source::Store { store: from, .. } => {
            return Ok(ferrix_store::store::pipe_nar(
                &**from,
                &n.info.path,
                &mut |r| add(store, &info, r, repair, !source.trusted()),
            )?);
        }
    };
    // The store checks the NAR hash as it imports (and registers nothing otherwise).
    let Some(r) = cache.open_nar_for_import(n)? else {
        return Err(Copy::Gone(format!(
            "file '{}' does not exist in binary cache '{}'",
            n.url,
            cache.base_url()
        )));
    };
    let mut r = Counted {
        inner: r,
        path: &n.info.path,
        done: 0,
        shown: 0,
        total: (n.info.nar_size > 0).then_some(n.info.nar_size),
    };
    let res = add(store, &info, &mut r, repair, !cache.trusted);
    emit(Output::DownloadDone(&n.info.path));
    Ok(res?)
}

/// A NAR being read, reported to the progress display at its start, every 64 KiB and at
/// its end.
struct Counted<'a, R> {
    inner: R,
    path: &'a StorePath,
    done: u64,
    shown: u64,
    total: Option<u64>,
}

impl<R: std::io::Read> std::io::Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if n == 0 || self.shown == 0 || self.done - self.shown >= 64 * 1024 {
            self.shown = self.done;
            emit(Output::Download {
                path: self.path,
                done: self.done,
                total: self.total,
            });
        }
        Ok(n)
    }
}

/// Adds a substituted NAR: a repair at once, anything else for the next group commit.
fn add(
    store: &LocalStore,
    info: &ferrix_store::db::PathInfo,
    r: &mut dyn std::io::Read,
    repair: bool,
    check_sigs: bool,
) -> Result<(), StoreError> {
    if repair {
        store.add_nar(info, r, true, check_sigs)
    } else {
        store.add_nar_deferred(info, r, check_sigs)
    }
}

/// Why a copy failed: the cache no longer has the NAR (as if it never offered the path,
/// so the derivation is built without `--fallback`), or anything else.
enum Copy {
    Gone(String),
    Failed(StoreError),
}

impl From<StoreError> for Copy {
    fn from(e: StoreError) -> Copy {
        Copy::Failed(e)
    }
}
