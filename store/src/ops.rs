//! Whole-store operations of `nix-store`: verification and validity registrations
//! (`--dump-db`, `--load-db`, `--register-validity`). Roots and deletion are in
//! [`crate::gc`].

use crate::db::PathInfo;
use crate::local::{canonicalise, hash_path, LocalStore, Log};
use crate::path::StorePath;
use crate::store::{Store, StoreError};
use crate::{nix32, Hash, HashAlgo};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::BufRead;
use std::path::PathBuf;

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
        StoreError::io(
            format!("opening directory '{}'", cfg.real_dir.display()),
            &e,
        )
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
                            StoreError::io(
                                format!("removing corrupt link '{}'", e.path().display()),
                                &err,
                            )
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
