//! What a finished build produced: the outputs are canonicalised (mode, mtime 1, owned by
//! root), hashed and scanned for references in one pass, checked (fixed-output hashes,
//! `allowedReferences` and friends, `--check` comparisons), and only when all of them pass
//! moved into the store and registered in one transaction. A failure registers nothing.

use super::{Failure, IoError, Node};
use ferrix_store::db::PathInfo;
use ferrix_store::derivation::Derivation;
use ferrix_store::hash::{Hash, HashAlgo, Hasher};
use ferrix_store::local::{fixed_ca, LocalStore};
use ferrix_store::nar;
use ferrix_store::path::{Ingestion, StorePath};
use ferrix_store::refs::RefScanner;
use ferrix_store::store::Store;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The failure of I/O operation `what` on `p`.
fn io_fail(e: io::Error, what: &'static str, p: &Path) -> Failure {
    IoError::new(what, p, e).into()
}

/// Gives a built tree the metadata of a store path: owned by root, no write bits, no
/// setuid/setgid, executable bits kept together, modification time 1. Files other than
/// regular files, directories and symlinks are refused.
pub(crate) fn canonicalise_output(p: &Path) -> Result<(), Failure> {
    let meta = fs::symlink_metadata(p).map_err(|e| io_fail(e, "getting attributes of path", p))?;
    let ft = meta.file_type();
    if !(ft.is_file() || ft.is_dir() || ft.is_symlink()) {
        return Err(Failure::UnsupportedFileType {
            path: p.to_path_buf(),
        });
    }
    if meta.is_dir() {
        for e in fs::read_dir(p).map_err(|e| io_fail(e, "opening directory", p))? {
            let e = e.map_err(|e| io_fail(e, "reading directory", p))?;
            canonicalise_output(&e.path())?;
        }
    }
    if meta.uid() != 0 || meta.gid() != 0 {
        // Only root can give files away; without it the files stay the caller's.
        if nix::unistd::geteuid().is_root() {
            nix::unistd::fchownat(
                nix::fcntl::AT_FDCWD,
                p,
                Some(nix::unistd::Uid::from_raw(0)),
                Some(nix::unistd::Gid::from_raw(0)),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(|e| IoError::errno("changing owner of", p, e))?;
        }
    }
    Ok(ferrix_store::local::canonicalise_entry(p, &meta)?)
}

/// Writes to several sinks at once.
struct Tee<'a>(Vec<&'a mut dyn Write>);

impl Write for Tee<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        for w in &mut self.0 {
            w.write_all(buf)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct Counter(u64);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An output after the build, checked but not yet in the store.
struct Built {
    name: String,
    path: StorePath,
    /// Where the build left it.
    at: PathBuf,
    info: PathInfo,
}

/// The fixed-output expectation of `drv`: ingestion method and hash.
pub(crate) fn fixed_expectation(drv: &Derivation) -> Result<Option<(Ingestion, Hash)>, Failure> {
    if !drv.is_fixed_output() {
        return Ok(None);
    }
    let o = &drv.outputs[&b"out"[..]];
    let (method, algo) = o
        .ingestion()
        .map_err(|algo| Failure::UnknownHashAlgo { algo })?;
    let hash = Hash::parse_any(&String::from_utf8_lossy(&o.hash), Some(algo))?;
    Ok(Some((method, hash)))
}

/// Where a build stands among the rounds of `repeat`.
pub(crate) struct Round {
    /// 1-based.
    pub index: u64,
    pub total: u64,
    /// What the previous round built, to compare with.
    pub previous: Option<Vec<PathInfo>>,
    /// `enforce-determinism`: a difference fails the build.
    pub enforce: bool,
}

impl Round {
    /// A build of one round.
    pub fn single() -> Round {
        Round {
            index: 1,
            total: 1,
            previous: None,
            enforce: true,
        }
    }
}

/// The outcome of checking outputs that `--check` rebuilt.
pub(crate) struct CheckResult;

/// Checks the outputs that the build of `node` left at `locations` and registers them.
/// `candidates` are the paths references may point to (the input closure). In check mode
/// the rebuilt outputs are compared with the valid ones and then discarded (or kept as
/// `<path>.check` with `keep_failed`).
///
/// `redirected` names the outputs that were built at a scratch path (output name → that
/// path) because they were valid already: their hashes are rewritten back to the real
/// outputs' in every output, and outside check mode the rebuilt copies of valid outputs are
/// discarded, keeping the valid ones; with `repair` they replace the valid ones.
#[allow(clippy::too_many_arguments)]
pub(crate) fn register_outputs(
    store: &LocalStore,
    node: &Node,
    locations: &BTreeMap<String, PathBuf>,
    redirected: &BTreeMap<String, StorePath>,
    candidates: &BTreeSet<StorePath>,
    check: bool,
    keep_failed: bool,
    round: &mut Round,
    repair: bool,
    finals: &mut BTreeMap<String, StorePath>,
) -> Result<Option<CheckResult>, Failure> {
    let drv_name = store.print(&node.path);
    let mut cands = candidates.clone();
    cands.extend(node.outputs.values().cloned());
    let fixed = fixed_expectation(&node.drv)?;
    let back: Vec<(Vec<u8>, Vec<u8>)> = redirected
        .iter()
        .map(|(name, scratch)| {
            (
                scratch.hash_part().as_bytes().to_vec(),
                node.outputs[name].hash_part().as_bytes().to_vec(),
            )
        })
        .collect();
    let mut built = Vec::new();
    for (name, out) in &node.outputs {
        let at = &locations[name];
        if fs::symlink_metadata(at).is_err() {
            return Err(Failure::MissingOutput {
                drv: drv_name,
                output: name.clone(),
                at: at.clone(),
            });
        }
        canonicalise_output(at)?;
        if !back.is_empty() {
            rewrite_tree(at, &back)?;
        }
        // One pass over the NAR: its SHA-256, the references, and (for a recursive fixed
        // output) the hash it is checked against.
        let mut sha = Hasher::new(HashAlgo::Sha256);
        let mut scanner = RefScanner::new(&cands);
        let mut count = Counter(0);
        let mut ca_hasher = match &fixed {
            Some((Ingestion::Recursive, h)) if h.algo != HashAlgo::Sha256 => {
                Some(Hasher::new(h.algo))
            }
            _ => None,
        };
        {
            let mut sinks: Vec<&mut dyn Write> = vec![&mut sha, &mut scanner, &mut count];
            if let Some(h) = ca_hasher.as_mut() {
                sinks.push(h);
            }
            nar::dump(at, &mut Tee(sinks), &mut |_| Ok(true)).map_err(|source| Failure::Dump {
                path: at.clone(),
                source,
            })?;
        }
        let nar_hash = sha.finish();
        let mut refs = scanner.into_found();
        let mut info = PathInfo::new(out.clone(), nar_hash.clone(), count.0);
        info.deriver = Some(node.path.clone());
        info.ultimate = true;
        if let Some((method, want)) = &fixed {
            let got = match method {
                Ingestion::Flat => {
                    let m = fs::symlink_metadata(at)
                        .map_err(|e| io_fail(e, "getting status of", at))?;
                    if !m.is_file() || m.mode() & 0o100 != 0 {
                        return Err(Failure::FlatOutputNotFile { path: at.clone() });
                    }
                    let mut h = Hasher::new(want.algo);
                    let mut f = fs::File::open(at).map_err(|e| io_fail(e, "opening file", at))?;
                    io::copy(&mut f, &mut h).map_err(|e| io_fail(e, "reading file", at))?;
                    h.finish()
                }
                Ingestion::Recursive => match ca_hasher {
                    Some(h) => h.finish(),
                    None => nar_hash.clone(),
                },
            };
            if &got != want {
                // As Nix does, the output is registered under the hash it actually has
                // (so a later build with the right hash finds it), then the build fails.
                register_mismatched(store, node, out, at, *method, &got, &refs, &info)?;
                return Err(Failure::HashMismatch {
                    drv: drv_name,
                    specified: want.clone(),
                    got,
                });
            }
            refs.remove(out);
            if !refs.is_empty() {
                return Err(Failure::FixedOutputReferences { drv: drv_name });
            }
            info.ca = Some(fixed_ca(*method, want));
        }
        info.references = refs;
        built.push(Built {
            name: name.clone(),
            path: out.clone(),
            at: at.clone(),
            info,
        });
    }
    check_references(store, node, &built)?;
    check_cycles(store, &built)?;
    // Floating content-addressed outputs move to the paths their contents give, held
    // locked until they are registered.
    let mut _final_locks = Vec::new();
    if !node.floating.is_empty() {
        if check {
            return Err(Failure::CheckFloating { drv: drv_name });
        }
        finalise_floating(store, node, &mut built)?;
        for b in &built {
            finals.insert(b.name.clone(), b.path.clone());
        }
        for b in &built {
            _final_locks.push(ferrix_store::lock::PathLock::lock(
                &store.real_path(&b.path),
            )?);
        }
        // What is valid already (built before, or by someone else) stays as it is.
        let mut keep = Vec::new();
        for b in built {
            if store.is_valid(&b.path)? {
                make_writable_tree(&b.at);
                nar::remove_tree(&b.at).map_err(|e| io_fail(e, "deleting", &b.at))?;
            } else {
                keep.push(b);
            }
        }
        built = keep;
    }

    if check {
        for b in &built {
            let old = store.query_path_info(&b.path)?;
            if old.nar_hash != b.info.nar_hash {
                let real = store.real_path(&b.path);
                let kept = if keep_failed {
                    let dst = PathBuf::from(format!("{}.check", real.display()));
                    if fs::symlink_metadata(&dst).is_ok() {
                        let _ = nar::remove_tree(&dst);
                    }
                    move_dir_entry(&b.at, &dst)?;
                    Some(dst)
                } else {
                    None
                };
                return Err(Failure::CheckMismatch {
                    drv: drv_name,
                    output: real,
                    kept,
                });
            }
        }
        return Ok(Some(CheckResult));
    }

    // `repeat`: compare with the previous round; keep this round's result for the next.
    if let Some(prev) = &round.previous {
        for (p, b) in prev.iter().zip(&built) {
            let n = &b.info;
            if p.nar_hash != n.nar_hash || p.nar_size != n.nar_size || p.references != n.references
            {
                let f = Failure::NotDeterministic {
                    drv: drv_name.clone(),
                    output: store.print(&b.path),
                };
                if round.enforce {
                    return Err(f);
                }
                super::eprint_error(&f.to_string());
                // Enough is known: this round is the last.
                round.total = round.index;
                break;
            }
        }
    }
    if round.index < round.total {
        round.previous = Some(built.iter().map(|b| b.info.clone()).collect());
        for b in &built {
            make_writable_tree(&b.at);
            nar::remove_tree(&b.at).map_err(|e| io_fail(e, "deleting", &b.at))?;
        }
        return Ok(None);
    }

    // Everything passed: into the store, then registered at once. A valid output that was
    // rebuilt at a scratch path stays as it was.
    // The caller holds the outputs' locks, so no one else installs or registers them
    // meanwhile. If registering fails, what was moved in is removed again rather than left
    // on disk unregistered.
    let mut infos = Vec::new();
    let mut moved = Vec::new();
    let remove_moved = |moved: &[PathBuf]| {
        for m in moved {
            let _ = nar::remove_tree(m);
        }
    };
    for b in built {
        // Repairing: the rebuilt copy replaces the valid (and possibly damaged) one.
        if redirected.contains_key(&b.name) && !repair {
            continue;
        }
        let real = store.real_path(&b.path);
        if b.at != real {
            if fs::symlink_metadata(&real).is_ok() {
                if let Err(e) = nar::remove_tree(&real) {
                    remove_moved(&moved);
                    return Err(io_fail(e, "deleting", &real));
                }
            }
            if let Err(e) = move_dir_entry(&b.at, &real) {
                remove_moved(&moved);
                return Err(e);
            }
        }
        moved.push(real);
        let _ = &b.name;
        infos.push(b.info);
    }
    for i in &infos {
        store.auto_optimise(&i.path)?;
    }
    if let Err(e) = store.register_valid_paths(&infos) {
        let invalid: Vec<PathBuf> = infos
            .iter()
            .filter(|i| !store.is_valid(&i.path).unwrap_or(true))
            .map(|i| store.real_path(&i.path))
            .collect();
        remove_moved(&invalid);
        return Err(e.into());
    }
    Ok(None)
}

/// Gives each floating content-addressed output in `built` the path its contents address,
/// as Nix does: outputs that others refer to first; references to outputs already moved
/// are rewritten to their new paths; the content hash counts the output's references to
/// itself as zeros (see [`ferrix_store::realisation::hash_modulo`]); then those references
/// are rewritten to the new path too.
fn finalise_floating(store: &LocalStore, node: &Node, built: &mut [Built]) -> Result<(), Failure> {
    let drv_name = store.print(&node.path);
    // Outputs in the order to finalise: an output after those it refers to.
    let mut order: Vec<usize> = Vec::new();
    let mut state = vec![0u8; built.len()];
    fn visit(
        i: usize,
        built: &[Built],
        state: &mut [u8],
        order: &mut Vec<usize>,
    ) -> Result<(), (usize, usize)> {
        state[i] = 1;
        for (j, other) in built.iter().enumerate() {
            if j == i || !built[i].info.references.contains(&other.path) {
                continue;
            }
            match state[j] {
                0 => visit(j, built, state, order)?,
                1 => return Err((j, i)),
                _ => {}
            }
        }
        state[i] = 2;
        order.push(i);
        Ok(())
    }
    for i in 0..built.len() {
        if state[i] == 0 {
            if let Err((a, b)) = visit(i, built, &mut state, &mut order) {
                return Err(Failure::FloatingCycle {
                    drv: drv_name,
                    output: built[a].name.clone(),
                    from: built[b].name.clone(),
                });
            }
        }
    }
    // Scratch hash part → final hash part, and scratch path → final path.
    let mut rewrites: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut moved: BTreeMap<StorePath, StorePath> = BTreeMap::new();
    for i in order {
        let b = &mut built[i];
        let Some(&(method, algo)) = node.floating.get(&b.name) else {
            return Err(Failure::NotFloating {
                drv: drv_name,
                output: b.name.clone(),
            });
        };
        if !rewrites.is_empty() {
            rewrite_tree(&b.at, &rewrites)?;
        }
        let scratch = b.path.clone();
        let old = scratch.hash_part().as_bytes().to_vec();
        let data = match method {
            Ingestion::Recursive => {
                let mut bytes = Vec::new();
                nar::dump(&b.at, &mut bytes, &mut |_| Ok(true)).map_err(|source| {
                    Failure::Dump {
                        path: b.at.clone(),
                        source,
                    }
                })?;
                bytes
            }
            Ingestion::Flat => {
                let m = fs::symlink_metadata(&b.at)
                    .map_err(|e| io_fail(e, "getting status of", &b.at))?;
                if !m.is_file() || m.mode() & 0o100 != 0 {
                    return Err(Failure::FlatOutputNotFile { path: b.at.clone() });
                }
                fs::read(&b.at).map_err(|e| io_fail(e, "reading file", &b.at))?
            }
        };
        let got = ferrix_store::realisation::hash_modulo(algo, &data, &old);
        let mut self_ref = false;
        let mut refs = BTreeSet::new();
        for r in &b.info.references {
            if *r == scratch {
                self_ref = true;
            } else {
                refs.insert(moved.get(r).cloned().unwrap_or_else(|| r.clone()));
            }
        }
        if !(method == Ingestion::Recursive && algo == HashAlgo::Sha256)
            && (self_ref || !refs.is_empty())
        {
            return Err(Failure::FloatingReferences {
                drv: drv_name,
                output: b.name.clone(),
            });
        }
        let path =
            store
                .dir()
                .make_fixed_output_path(method, &got, scratch.name(), &refs, self_ref)?;
        let new = path.hash_part().as_bytes().to_vec();
        let rewrite = [(old.clone(), new.clone())];
        let (nar_hash, nar_size) = match method {
            // `data` is the NAR already: rewrite it in memory, and the tree only if it
            // refers to itself.
            Ingestion::Recursive => {
                let nar = super::goal::rewrite_bytes(&data, &rewrite);
                if nar != data {
                    replace_tree(&b.at, &nar)?;
                }
                (Hash::sha256(&nar), nar.len() as u64)
            }
            Ingestion::Flat => {
                rewrite_tree(&b.at, &rewrite)?;
                let mut sha = Hasher::new(HashAlgo::Sha256);
                let mut count = Counter(0);
                nar::dump(&b.at, &mut Tee(vec![&mut sha, &mut count]), &mut |_| {
                    Ok(true)
                })
                .map_err(|source| Failure::Dump {
                    path: b.at.clone(),
                    source,
                })?;
                (sha.finish(), count.0)
            }
        };
        drop(data);
        let mut info = PathInfo::new(path.clone(), nar_hash, nar_size);
        info.deriver = Some(node.path.clone());
        info.ultimate = true;
        info.ca = Some(fixed_ca(method, &got));
        if self_ref {
            refs.insert(path.clone());
        }
        info.references = refs;
        rewrites.push((old, new));
        moved.insert(scratch, path.clone());
        b.path = path;
        b.info = info;
    }
    Ok(())
}

/// Checks the outputs a remote machine built (name, path, metadata) against the
/// derivation's reference constraints, as for a local build.
pub(crate) fn check_remote_references(
    store: &LocalStore,
    node: &Node,
    outputs: &[(String, PathInfo)],
) -> Result<(), Failure> {
    let built: Vec<Built> = outputs
        .iter()
        .map(|(name, info)| Built {
            name: name.clone(),
            path: info.path.clone(),
            at: store.real_path(&info.path),
            info: info.clone(),
        })
        .collect();
    check_references(store, node, &built)
}

/// A list-valued attribute of the derivation (space-separated in the environment).
fn strings_attr(drv: &Derivation, name: &str) -> Option<Vec<String>> {
    drv.env.get(name.as_bytes()).map(|v| {
        String::from_utf8_lossy(v)
            .split_whitespace()
            .map(str::to_string)
            .collect()
    })
}

/// `allowedReferences`, `allowedRequisites`, `disallowedReferences`,
/// `disallowedRequisites` (in the environment, or per output under `outputChecks` with
/// structured attributes).
fn check_references(store: &LocalStore, node: &Node, built: &[Built]) -> Result<(), Failure> {
    let by_path: BTreeMap<&StorePath, &PathInfo> =
        built.iter().map(|b| (&b.path, &b.info)).collect();
    let closure = |start: &StorePath| -> Result<BTreeSet<StorePath>, Failure> {
        let mut done = BTreeSet::new();
        let mut todo = vec![start.clone()];
        while let Some(p) = todo.pop() {
            if !done.insert(p.clone()) {
                continue;
            }
            let refs = match by_path.get(&p) {
                Some(i) => i.references.clone(),
                None => store.query_path_info(&p)?.references,
            };
            todo.extend(refs.into_iter().filter(|r| !done.contains(r)));
        }
        Ok(done)
    };
    let structured: Option<serde_json::Value> = node
        .drv
        .env
        .get(&b"__json"[..])
        .and_then(|j| serde_json::from_slice(j).ok());
    for b in built {
        let (lists, ignore_self): ([Option<Vec<String>>; 4], bool) = match &structured {
            None => (
                [
                    strings_attr(&node.drv, "allowedReferences"),
                    strings_attr(&node.drv, "allowedRequisites"),
                    strings_attr(&node.drv, "disallowedReferences"),
                    strings_attr(&node.drv, "disallowedRequisites"),
                ],
                true,
            ),
            Some(v) => {
                let o = v.get("outputChecks").and_then(|c| c.get(&b.name));
                let get = |k: &str| -> Option<Vec<String>> {
                    o.and_then(|o| o.get(k))
                        .and_then(|l| l.as_array())
                        .map(|l| {
                            l.iter()
                                .filter_map(|s| s.as_str().map(str::to_string))
                                .collect()
                        })
                };
                (
                    [
                        get("allowedReferences"),
                        get("allowedRequisites"),
                        get("disallowedReferences"),
                        get("disallowedRequisites"),
                    ],
                    false,
                )
            }
        };
        for (i, list) in lists.iter().enumerate() {
            let Some(list) = list else { continue };
            let allowed = i < 2;
            let recursive = i % 2 == 1;
            let mut spec = BTreeSet::new();
            for s in list {
                if store.dir().is_in_store(s) {
                    if let Ok(p) = store.dir().parse(s) {
                        spec.insert(p);
                        continue;
                    }
                }
                match node.outputs.get(s) {
                    Some(p) => {
                        spec.insert(p.clone());
                    }
                    None => return Err(Failure::IllegalReferenceSpecifier { spec: s.clone() }),
                }
            }
            let mut used = if recursive {
                closure(&b.path)?
            } else {
                b.info.references.clone()
            };
            if recursive && ignore_self {
                used.remove(&b.path);
            }
            let bad: Vec<&StorePath> = used
                .iter()
                .filter(|u| spec.contains(*u) != allowed)
                .collect();
            if !bad.is_empty() {
                return Err(Failure::DisallowedReferences {
                    output: store.print(&b.path),
                    paths: bad.into_iter().map(|p| store.print(p)).collect(),
                });
            }
        }
    }
    Ok(())
}

/// Rewrites the contents of the tree at `at` (file contents, symlink targets and names)
/// with `rewrites`, through its NAR serialisation, as Nix rewrites redirected outputs.
fn rewrite_tree(at: &Path, rewrites: &[(Vec<u8>, Vec<u8>)]) -> Result<(), Failure> {
    let mut bytes = Vec::new();
    nar::dump(at, &mut bytes, &mut |_| Ok(true)).map_err(|source| Failure::Dump {
        path: at.to_path_buf(),
        source,
    })?;
    let new = super::goal::rewrite_bytes(&bytes, rewrites);
    if new == bytes {
        return Ok(());
    }
    replace_tree(at, &new)
}

/// Replaces the tree at `at` with the one the NAR `nar` holds.
fn replace_tree(at: &Path, bytes: &[u8]) -> Result<(), Failure> {
    make_writable_tree(at);
    nar::remove_tree(at).map_err(|e| io_fail(e, "deleting", at))?;
    nar::restore(
        &mut &bytes[..],
        at,
        nar::RestoreOptions {
            case_hack: false,
            fsync: false,
            expect_end: true,
        },
    )
    .map_err(|source| Failure::Rewrite {
        path: at.to_path_buf(),
        source,
    })?;
    canonicalise_output(at)
}

fn make_writable_tree(p: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(m) = fs::symlink_metadata(p) {
        if m.is_dir() {
            let _ = fs::set_permissions(p, fs::Permissions::from_mode(m.mode() | 0o700));
            if let Ok(rd) = fs::read_dir(p) {
                for e in rd.flatten() {
                    make_writable_tree(&e.path());
                }
            }
        }
    }
}

/// Registers the output of a fixed-output derivation whose hash was not the one specified
/// at the path its content does address: `method` and `got`, with no references.
#[allow(clippy::too_many_arguments)]
fn register_mismatched(
    store: &LocalStore,
    node: &Node,
    out: &StorePath,
    at: &Path,
    method: Ingestion,
    got: &Hash,
    refs: &BTreeSet<StorePath>,
    info: &PathInfo,
) -> Result<(), Failure> {
    let mut others = refs.clone();
    others.remove(out);
    if !others.is_empty() {
        return Ok(());
    }
    let path =
        store
            .dir()
            .make_fixed_output_path(method, got, out.name(), &BTreeSet::new(), false)?;
    if store.is_valid(&path)? {
        return Ok(());
    }
    let _lock = ferrix_store::lock::PathLock::lock(&store.real_path(&path))?;
    if store.is_valid(&path)? {
        return Ok(());
    }
    let real = store.real_path(&path);
    if fs::symlink_metadata(&real).is_ok() {
        make_writable_tree(&real);
        nar::remove_tree(&real).map_err(|e| io_fail(e, "deleting", &real))?;
    }
    // Copy rather than move: the build's own clean-up owns `at`.
    let mut bytes = Vec::new();
    nar::dump(at, &mut bytes, &mut |_| Ok(true)).map_err(|source| Failure::Dump {
        path: at.to_path_buf(),
        source,
    })?;
    nar::restore(
        &mut bytes.as_slice(),
        &real,
        nar::RestoreOptions {
            case_hack: false,
            fsync: false,
            expect_end: true,
        },
    )
    .map_err(|source| Failure::Restore {
        path: real.clone(),
        source,
    })?;
    canonicalise_output(&real)?;
    let mut new = PathInfo::new(path, info.nar_hash.clone(), info.nar_size);
    new.deriver = Some(node.path.clone());
    new.ultimate = true;
    new.ca = Some(fixed_ca(method, got));
    store.register_valid_paths(&[new])?;
    Ok(())
}

/// Outputs may refer to themselves, but not to each other in a cycle: Nix refuses to
/// register such a set with `cycle detected in the references of 'P' from 'Q'`.
fn check_cycles(store: &LocalStore, built: &[Built]) -> Result<(), Failure> {
    let refs: BTreeMap<&StorePath, Vec<&StorePath>> = built
        .iter()
        .map(|b| {
            let others = b
                .info
                .references
                .iter()
                .filter(|r| **r != b.path && built.iter().any(|o| &o.path == *r))
                .collect();
            (&b.path, others)
        })
        .collect();
    // 0: not seen, 1: on the current path, 2: done.
    let mut state: BTreeMap<&StorePath, u8> = BTreeMap::new();
    fn visit<'p>(
        p: &'p StorePath,
        parent: Option<&'p StorePath>,
        refs: &BTreeMap<&'p StorePath, Vec<&'p StorePath>>,
        state: &mut BTreeMap<&'p StorePath, u8>,
    ) -> Result<(), (&'p StorePath, &'p StorePath)> {
        match state.get(p).copied().unwrap_or(0) {
            2 => return Ok(()),
            1 => return Err((p, parent.unwrap_or(p))),
            _ => {}
        }
        state.insert(p, 1);
        for r in refs.get(p).map(Vec::as_slice).unwrap_or_default() {
            visit(r, Some(p), refs, state)?;
        }
        state.insert(p, 2);
        Ok(())
    }
    for p in refs.keys() {
        if let Err((path, parent)) = visit(p, None, &refs, &mut state) {
            return Err(Failure::ReferenceCycle {
                path: store.print(path),
                parent: store.print(parent),
            });
        }
    }
    Ok(())
}

/// Renames `from` to `to`. Moving a directory to another parent updates its `..` entry,
/// which needs write permission on the directory itself, so a read-only output directory
/// is made writable for the move and read-only again after it.
fn move_dir_entry(from: &Path, to: &Path) -> Result<(), Failure> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = fs::symlink_metadata(from).map_err(|e| io_fail(e, "getting status of", from))?;
    let dir_mode = (meta.is_dir() && meta.mode() & 0o200 == 0).then_some(meta.mode() & 0o7777);
    if let Some(m) = dir_mode {
        fs::set_permissions(from, fs::Permissions::from_mode(m | 0o200))
            .map_err(|e| io_fail(e, "changing mode of", from))?;
    }
    fs::rename(from, to).map_err(|e| io_fail(e, "moving to", to))?;
    if let Some(m) = dir_mode {
        fs::set_permissions(to, fs::Permissions::from_mode(m))
            .map_err(|e| io_fail(e, "changing mode of", to))?;
    }
    Ok(())
}
