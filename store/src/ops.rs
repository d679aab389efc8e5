//! Whole-store operations of `nix-store`: verification, deletion with the garbage
//! collector's liveness rules, and validity registrations (`--dump-db`, `--load-db`,
//! `--register-validity`).

use crate::db::PathInfo;
use crate::local::{canonicalise, hash_path, LocalStore, Log};
use crate::nar;
use crate::path::StorePath;
use crate::store::{Store, StoreError};
use crate::{nix32, Hash, HashAlgo};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::BufRead;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

fn hash32(h: &Hash) -> String {
    h.encode(crate::hash::Encoding::Nix32, true)
}

/// How `--verify --repair` repairs a damaged or vanished path (by rebuilding it); the
/// error is reported as Nix reports a failed repair.
pub type RepairFn<'a> = &'a mut dyn FnMut(&StorePath) -> Result<(), String>;

/// `nix-store --verify`: checks that every valid path exists (removing vanished ones
/// nothing valid refers to) and, with `check_contents`, that its NAR hash matches. With
/// `repair`, damaged paths are repaired through it and corrupt `.links` entries removed.
/// Returns whether errors remain.
pub fn verify(
    store: &LocalStore,
    check_contents: bool,
    mut repair: Option<RepairFn<'_>>,
    log: &mut dyn FnMut(Log),
) -> Result<bool, StoreError> {
    let cfg = store.config();
    log(Log::Info("reading the Nix store...".into()));
    if !cfg.read_only {
        store.remove_stale_temps()?;
    }
    let mut errors = false;
    let mut on_disk = BTreeSet::new();
    for e in fs::read_dir(&cfg.real_dir).map_err(|e| {
        StoreError::Io(format!(
            "opening directory '{}': {}",
            cfg.real_dir.display(),
            crate::io_reason(&e)
        ))
    })? {
        let e = e?;
        on_disk.insert(e.file_name().to_string_lossy().into_owned());
    }
    log(Log::Info("checking path existence...".into()));
    let mut done = BTreeSet::new();
    let mut valid = BTreeSet::new();
    for p in store.all_valid()? {
        verify_path(
            store,
            &p,
            &on_disk,
            &mut done,
            &mut valid,
            &mut repair,
            &mut errors,
            log,
        )?;
    }
    if check_contents {
        log(Log::Info("checking link hashes...".into()));
        let links = cfg.real_dir.join(".links");
        if let Ok(rd) = fs::read_dir(&links) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let (h, _) = hash_path(&e.path(), false)?;
                let got = nix32::encode(&h.bytes);
                if got != name {
                    log(Log::Error(format!(
                        "link '{}' was modified! expected hash '{name}', got '{got}'",
                        e.path().display()
                    )));
                    if repair.is_some() {
                        fs::remove_file(e.path()).map_err(|err| {
                            StoreError::Io(format!(
                                "removing corrupt link '{}': {}",
                                e.path().display(),
                                crate::io_reason(&err)
                            ))
                        })?;
                        log(Log::Info(format!("removed link '{}'", e.path().display())));
                    } else {
                        errors = true;
                    }
                }
            }
        }
        log(Log::Info("checking store hashes...".into()));
        for p in &valid {
            let Some(info) = store.path_info(p)? else {
                continue;
            };
            let (got, size) = match hash_path(&store.real_path(p), cfg.case_hack) {
                Ok(x) => x,
                Err(e) => {
                    log(Log::PrefixedError(e.to_string()));
                    errors = true;
                    continue;
                }
            };
            let null = Hash::zero(HashAlgo::Sha256);
            if info.nar_hash != null && info.nar_hash != got {
                log(Log::Error(format!(
                    "path '{}' was modified! expected hash '{}', got '{}'",
                    store.print(p),
                    hash32(&info.nar_hash),
                    hash32(&got)
                )));
                match repair.as_mut() {
                    Some(fix) => {
                        if let Err(e) = fix(p) {
                            log(Log::PrefixedError(e));
                            errors = true;
                        }
                    }
                    None => errors = true,
                }
            } else {
                let mut hash = info.nar_hash.clone();
                let mut nar_size = info.nar_size;
                if info.nar_hash == null {
                    log(Log::Info(format!(
                        "fixing missing hash on '{}'",
                        store.print(p)
                    )));
                    hash = got;
                }
                if info.nar_size == 0 {
                    log(Log::Info(format!(
                        "updating size field on '{}' to {size}",
                        store.print(p)
                    )));
                    nar_size = size;
                }
                if hash != info.nar_hash || nar_size != info.nar_size {
                    store.with_db(|db| db.update_hash(p, &hash, nar_size))?;
                }
            }
        }
    }
    Ok(errors)
}

#[allow(clippy::too_many_arguments)]
fn verify_path(
    store: &LocalStore,
    p: &StorePath,
    on_disk: &BTreeSet<String>,
    done: &mut BTreeSet<StorePath>,
    valid: &mut BTreeSet<StorePath>,
    repair: &mut Option<RepairFn<'_>>,
    errors: &mut bool,
    log: &mut dyn FnMut(Log),
) -> Result<(), StoreError> {
    if !done.insert(p.clone()) {
        return Ok(());
    }
    if on_disk.contains(p.base_name()) {
        valid.insert(p.clone());
        return Ok(());
    }
    // Referrers first: if they can all go, this path can go too.
    let mut can_invalidate = true;
    for r in store.referrers(p)? {
        if r != *p {
            verify_path(store, &r, on_disk, done, valid, repair, errors, log)?;
            if valid.contains(&r) {
                can_invalidate = false;
            }
        }
    }
    if can_invalidate {
        log(Log::Info(format!(
            "path '{}' disappeared, removing from database...",
            store.print(p)
        )));
        store.with_db(|db| db.invalidate(p))?;
    } else {
        log(Log::Error(format!(
            "path '{}' disappeared, but it still has valid referrers!",
            store.print(p)
        )));
        match repair.as_mut() {
            Some(fix) => {
                if let Err(e) = fix(p) {
                    log(Log::Warn(e));
                    *errors = true;
                }
            }
            None => *errors = true,
        }
    }
    Ok(())
}

/// Roots and where each was found.
pub type Roots = BTreeMap<StorePath, BTreeSet<String>>;

/// The garbage collector roots: symlinks into the store under `gcroots/` and `profiles/`
/// (directly, or through one symlink outside, as `gcroots/auto` has them), store path names
/// of regular files there, and the temporary roots of running processes. Each root maps to
/// where it was found.
pub fn find_roots(
    store: &LocalStore,
    log: &mut dyn FnMut(Log),
) -> Result<BTreeMap<StorePath, BTreeSet<String>>, StoreError> {
    let cfg = store.config();
    let mut roots: BTreeMap<StorePath, BTreeSet<String>> = BTreeMap::new();
    let dir = store.dir().clone();
    let mut found = |link: &Path, target: &str, roots: &mut BTreeMap<_, BTreeSet<_>>| {
        if let Ok((p, _)) = dir.split(target) {
            if store.is_valid(&p).unwrap_or(false) {
                roots
                    .entry(p)
                    .or_default()
                    .insert(link.display().to_string());
            } else {
                log(Log::Info(format!(
                    "skipping invalid root from '{}' to '{target}'",
                    link.display()
                )));
            }
        }
    };
    /// `auto`: the `gcroots/auto` directory, when walking `gcroots` (where links to links
    /// count); links there whose target is gone are collected in `stale`.
    fn walk(
        p: &Path,
        auto: Option<&Path>,
        dir: &crate::StoreDir,
        found: &mut dyn FnMut(&Path, &str, &mut Roots),
        roots: &mut Roots,
        stale: &mut Vec<(PathBuf, PathBuf)>,
        depth: usize,
    ) {
        let Ok(meta) = fs::symlink_metadata(p) else {
            return;
        };
        if meta.is_dir() {
            if depth > 64 {
                return;
            }
            if let Ok(rd) = fs::read_dir(p) {
                for e in rd.flatten() {
                    walk(&e.path(), auto, dir, found, roots, stale, depth + 1);
                }
            }
        } else if meta.file_type().is_symlink() {
            let Ok(t) = fs::read_link(p) else { return };
            let t = p.parent().unwrap_or(Path::new("/")).join(t);
            let ts = t.to_string_lossy().into_owned();
            if dir.is_in_store(&ts) {
                found(p, &ts, roots);
            } else if let Some(auto) = auto {
                match fs::symlink_metadata(&t) {
                    Ok(m2) if m2.file_type().is_symlink() => {
                        if let Ok(t2) = fs::read_link(&t) {
                            let t2 = t.parent().unwrap_or(Path::new("/")).join(t2);
                            let t2s = t2.to_string_lossy().into_owned();
                            if dir.is_in_store(&t2s) {
                                found(&t, &t2s, roots);
                            }
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound && p.starts_with(auto) => {
                        stale.push((p.to_path_buf(), t));
                    }
                    _ => {}
                }
            }
        } else if meta.is_file() {
            if let Some(name) = p.file_name().and_then(|n| n.to_str()) {
                let full = format!("{}/{name}", dir.as_str());
                found(p, &full, roots);
            }
        }
    }
    let d = store.dir().clone();
    let mut stale = Vec::new();
    walk(
        &cfg.state_dir.join("gcroots"),
        Some(&cfg.state_dir.join("gcroots/auto")),
        &d,
        &mut found,
        &mut roots,
        &mut stale,
        0,
    );
    walk(
        &cfg.state_dir.join("profiles"),
        None,
        &d,
        &mut found,
        &mut roots,
        &mut stale,
        0,
    );
    // An indirect root whose link is gone (`nix-build -o` in a directory since deleted)
    // is removed, as Nix does.
    for (link, target) in stale {
        log(Log::Info(format!(
            "removing stale link from '{}' to '{}'",
            link.display(),
            target.display()
        )));
        let _ = fs::remove_file(&link);
    }
    // Temporary roots of live processes (and our own).
    if let Ok(rd) = fs::read_dir(cfg.state_dir.join("temproots")) {
        for e in rd.flatten() {
            let path = e.path();
            let own = e.file_name().to_str() == Some(&std::process::id().to_string());
            if !own {
                let Ok(f) = crate::lock::open_lock_file(&path) else {
                    continue;
                };
                // A file nobody holds belongs to a dead process.
                if crate::lock::lock_file(f, false, false)?.is_some() {
                    continue;
                }
            }
            let Ok(data) = fs::read(&path) else { continue };
            for s in data.split(|&b| b == 0).filter(|s| !s.is_empty()) {
                let s = String::from_utf8_lossy(s);
                if let Ok(p) = store.dir().parse(&s) {
                    if store.is_valid(&p)? {
                        roots.entry(p).or_default().insert("{temp}".to_string());
                    }
                }
            }
        }
    }
    Ok(roots)
}

/// What `--delete` did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Freed {
    pub paths: u64,
    pub bytes: u64,
}

/// What `--delete` did, with the paths it deleted in order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Deleted {
    pub freed: Freed,
    pub paths: Vec<StorePath>,
}

fn tree_size(p: &Path) -> u64 {
    let Ok(m) = fs::symlink_metadata(p) else {
        return 0;
    };
    if m.is_dir() {
        fs::read_dir(p)
            .map(|rd| rd.flatten().map(|e| tree_size(&e.path())).sum())
            .unwrap_or(0)
    } else if m.nlink() == 1 {
        m.size()
    } else {
        0
    }
}

/// `nix-store --delete`: deletes `paths` unless they are alive (reachable from a root, or
/// referred to by a valid path that is not being deleted with them). `done` is updated as
/// paths go, so that it is right even when an error stops the run.
pub fn delete_paths(
    store: &LocalStore,
    paths: &BTreeSet<StorePath>,
    ignore_liveness: bool,
    done: &mut Deleted,
    log: &mut dyn FnMut(Log),
) -> Result<(), StoreError> {
    log(Log::Info("finding garbage collector roots...".into()));
    let live = if ignore_liveness {
        BTreeSet::new()
    } else {
        let roots: BTreeSet<StorePath> = find_roots(store, log)?.into_keys().collect();
        store.closure(&roots, false, false)?
    };
    let alive = |p: &StorePath| {
        StoreError::Other(format!(
            "Cannot delete path '{}' since it is still alive. To find out why, use: nix-store --query --roots",
            store.print(p)
        ))
    };
    let mut deleted = BTreeSet::new();
    for p in paths {
        if deleted.contains(p) {
            continue;
        }
        if !store.is_valid(p)? {
            log(Log::Info(format!("deleting '{}'", store.print(p))));
            let real = store.real_path(p);
            done.freed.bytes += tree_size(&real);
            nar::remove_tree(&real)?;
            done.freed.paths += 1;
            done.paths.push(p.clone());
            deleted.insert(p.clone());
            continue;
        }
        let group = store.closure(&[p.clone()].into(), true, false)?;
        for q in &group {
            if live.contains(q) || !paths.contains(q) {
                return Err(alive(p));
            }
        }
        for q in store.topo_sort(&group)? {
            if deleted.contains(&q) {
                continue;
            }
            log(Log::Info(format!("deleting '{}'", store.print(&q))));
            store.with_db(|db| db.invalidate(&q))?;
            let real = store.real_path(&q);
            done.freed.bytes += tree_size(&real);
            nar::remove_tree(&real)?;
            done.freed.paths += 1;
            done.paths.push(q.clone());
            deleted.insert(q);
        }
    }
    let links = store.config().real_dir.join(".links");
    if links.is_dir() {
        log(Log::Info("deleting unused links...".into()));
        let mut actual: u64 = 0;
        let mut unshared: u64 = 0;
        if let Ok(rd) = fs::read_dir(&links) {
            for e in rd.flatten() {
                let Ok(m) = e.metadata() else { continue };
                if m.nlink() == 1 {
                    let _ = fs::remove_file(e.path());
                    done.freed.bytes += m.size();
                } else {
                    actual += m.size();
                    unshared += (m.nlink() - 1) * m.size();
                }
            }
        }
        let overhead = fs::metadata(&links).map(|m| m.blocks() * 512).unwrap_or(0);
        let saved = (unshared as f64 - actual as f64 - overhead as f64) / (1024.0 * 1024.0);
        log(Log::Info(format!(
            "note: currently hard linking saves {saved:.2} MiB"
        )));
    }
    Ok(())
}

/// The text `--dump-db` prints for `paths`: path, hash (base 16) and size when `show_hash`,
/// deriver, the number of references and the references, one per line.
pub fn validity_registration(
    store: &dyn Store,
    paths: &BTreeSet<StorePath>,
    show_hash: bool,
    show_derivers: bool,
) -> Result<String, StoreError> {
    let mut s = String::new();
    for p in paths {
        let info = store.query_path_info(p)?;
        s.push_str(&store.dir().display(p));
        s.push('\n');
        if show_hash {
            s.push_str(&info.nar_hash.to_base16());
            s.push('\n');
            s.push_str(&format!("{}\n", info.nar_size));
        }
        if show_derivers {
            if let Some(d) = &info.deriver {
                s.push_str(&store.dir().display(d));
            }
        }
        s.push('\n');
        s.push_str(&format!("{}\n", info.references.len()));
        for r in &info.references {
            s.push_str(&store.dir().display(r));
            s.push('\n');
        }
    }
    Ok(s)
}

fn read_line(r: &mut dyn BufRead) -> Result<Option<String>, StoreError> {
    let mut l = String::new();
    let n = r.read_line(&mut l)?;
    if n == 0 {
        return Ok(None);
    }
    if l.ends_with('\n') {
        l.pop();
    }
    Ok(Some(l))
}

/// Reads registrations in `--dump-db` format; with `hash_given` each carries its hash and
/// size lines.
pub fn read_registrations(
    store: &LocalStore,
    r: &mut dyn BufRead,
    hash_given: bool,
) -> Result<Vec<PathInfo>, StoreError> {
    let missing = || StoreError::Other("missing input".into());
    let number = || StoreError::Other("number expected".into());
    let mut out = Vec::new();
    while let Some(path) = read_line(r)? {
        let path = store.dir().parse(&path)?;
        let (hash, size) = if hash_given {
            let h = read_line(r)?.ok_or_else(missing)?;
            let hash = Hash::parse_any(&h, Some(HashAlgo::Sha256))
                .map_err(|e| StoreError::Other(e.to_string()))?;
            let s = read_line(r)?.ok_or_else(missing)?;
            (hash, s.parse::<u64>().map_err(|_| number())?)
        } else {
            (Hash::zero(HashAlgo::Sha256), 0)
        };
        let mut info = PathInfo::new(path, hash, size);
        let deriver = read_line(r)?.ok_or_else(missing)?;
        if !deriver.is_empty() {
            info.deriver = Some(store.dir().parse(&deriver)?);
        }
        let n = read_line(r)?.ok_or_else(missing)?;
        let n: usize = n.parse().map_err(|_| number())?;
        for _ in 0..n {
            let l = read_line(r)?.ok_or_else(missing)?;
            info.references.insert(store.dir().parse(&l)?);
        }
        out.push(info);
    }
    Ok(out)
}

/// `--register-validity` / `--load-db`: registers the paths read from `r` (those not valid
/// yet, or all with `reregister`), hashing their contents unless `hash_given`.
pub fn register_validity(
    store: &LocalStore,
    r: &mut dyn BufRead,
    reregister: bool,
    hash_given: bool,
    canonicalise_paths: bool,
) -> Result<(), StoreError> {
    let mut infos: BTreeMap<StorePath, PathInfo> = BTreeMap::new();
    for mut info in read_registrations(store, r, hash_given)? {
        if store.is_valid(&info.path)? && !reregister {
            continue;
        }
        let real: PathBuf = store.real_path(&info.path);
        if canonicalise_paths {
            canonicalise(&real)?;
        }
        if !hash_given {
            let (h, n) = hash_path(&real, store.config().case_hack)?;
            info.nar_hash = h;
            info.nar_size = n;
        }
        infos.insert(info.path.clone(), info);
    }
    let infos: Vec<PathInfo> = infos.into_values().collect();
    store.register_valid_paths(&infos)
}
