//! The store as one evaluation sees it: the store itself, plus what this evaluation has
//! already computed (paths of copied sources, modulo hashes of derivations, references of
//! text it added), so that nothing is hashed twice and read-only mode works.

use ferrix_eval::error::EvalError;
use ferrix_eval::{Evaluator, Pos, StoreHook};
use ferrix_store::derivation::Derivation;
use ferrix_store::path::Ingestion;
use ferrix_store::store::{Store, StoreError};
use ferrix_store::{Hash, HashAlgo, StoreDir, StorePath};
use rustc_hash::FxHashMap;
use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Builds the given outputs of derivations for evaluation (import from derivation). The
/// binary supplies it, since building belongs to the builder, not to the builtins.
pub type Realiser = dyn Fn(&dyn Store, &[(StorePath, BTreeSet<String>)]) -> Result<(), String>;

/// Opens a store, or gives `None` when it cannot.
pub type StoreOpener = dyn FnOnce() -> Option<Box<dyn Store>>;

pub struct StoreSession {
    pub store: Box<dyn Store>,
    /// How outputs that evaluation reads get built; without one, they cannot be.
    realiser: RefCell<Option<Box<Realiser>>>,
    /// `allow-import-from-derivation`.
    pub allow_ifd: Cell<bool>,
    /// The fetchers' settings (`tarball-ttl`, `connect-timeout`, `download-attempts`).
    pub fetch_options: RefCell<ferrix_fetch::FetchOptions>,
    /// Where the fetchers write when [`Self::store`] only computes paths (read-only
    /// evaluation): Nix's fetchers write to the store even then.
    fetch_store: std::cell::OnceCell<Box<dyn Store>>,
    /// Opens [`Self::fetch_store`] when a fetcher first needs it.
    fetch_store_opener: RefCell<Option<Box<StoreOpener>>>,
    /// URIs of the search path and the command line → their unpacked trees.
    pub uri_trees: RefCell<FxHashMap<String, Vec<u8>>>,
    /// Whether the experimental feature `flakes` is on (for `fetchTree`).
    pub experimental_flakes: Cell<bool>,
    /// `allow-dirty` and `warn-dirty`, for `fetchGit` of a dirty working tree.
    pub git_dirty: RefCell<ferrix_fetch::git::DirtyPolicy>,
    /// Source path → its store path (Nix's `srcToStore`).
    sources: RefCell<FxHashMap<Vec<u8>, Vec<u8>>>,
    /// What this evaluation learnt of store paths: see [`Known`].
    known: RefCell<Known>,
}

/// The store paths this evaluation added or hashed, each kept once, as printed
/// (`/nix/store/….drv`: how a derivation's inputs name them), with what is known of it.
/// A path's number is its place in the table; references are kept as numbers, which
/// costs 4 bytes where a path would cost a hundred (a derivation has tens of them).
#[derive(Default)]
struct Known {
    paths: indexmap::IndexMap<Box<[u8]>, Facts, rustc_hash::FxBuildHasher>,
}

#[derive(Default)]
struct Facts {
    /// The references of a text path (a derivation's too) added in this evaluation, which
    /// a read-only store cannot be asked for.
    refs: Option<Box<[u32]>>,
    /// A derivation's modulo hash, unmasked.
    hash: Option<Hash>,
    /// The output names of a derivation written in this evaluation, for closures in
    /// read-only mode.
    outputs: Option<Box<[Vec<u8>]>>,
}

impl Known {
    /// The number of a path, entered if it is new.
    fn number(&mut self, printed: &[u8]) -> Result<u32, StoreError> {
        let i = match self.paths.get_index_of(printed) {
            Some(i) => i,
            None => self.paths.insert_full(printed.into(), Facts::default()).0,
        };
        u32::try_from(i)
            .map_err(|_| StoreError::Other("too many store paths in one evaluation".into()))
    }

    fn facts(&mut self, printed: &[u8]) -> Result<&mut Facts, StoreError> {
        let i = self.number(printed)? as usize;
        Ok(&mut self.paths[i])
    }

    fn get(&self, printed: &[u8]) -> Option<&Facts> {
        self.paths.get(printed)
    }
}

impl StoreSession {
    pub fn new(store: Box<dyn Store>) -> Self {
        StoreSession {
            store,
            realiser: RefCell::new(None),
            allow_ifd: Cell::new(true),
            fetch_options: Default::default(),
            fetch_store: Default::default(),
            experimental_flakes: Cell::new(false),
            uri_trees: Default::default(),
            fetch_store_opener: RefCell::new(None),
            git_dirty: RefCell::new(ferrix_fetch::git::DirtyPolicy {
                allow: true,
                warn: true,
            }),
            sources: Default::default(),
            known: Default::default(),
        }
    }

    /// Installs what builds derivations during evaluation.
    pub fn set_realiser(&self, r: Box<Realiser>) {
        *self.realiser.borrow_mut() = Some(r);
    }

    /// Nix's `realiseContext`: every path of a string's context must be valid, and the
    /// derivation outputs it names are built. Returns the store paths (as printed) that
    /// became readable, for restricted evaluation to allow.
    pub fn realise_context(&self, context: &[&[u8]]) -> Result<Vec<Vec<u8>>, String> {
        let dir = self.dir();
        let mut wanted: Vec<(StorePath, BTreeSet<String>)> = Vec::new();
        let mut items: Vec<&[u8]> = context.to_vec();
        items.sort_unstable();
        items.dedup();
        for item in items {
            let (path, output): (&[u8], Option<&[u8]>) = if let Some(p) = item.strip_prefix(b"=") {
                (p, None)
            } else if let Some(rest) = item.strip_prefix(b"!") {
                match rest.iter().position(|&b| b == b'!') {
                    Some(i) => (&rest[i + 1..], Some(&rest[..i])),
                    None => continue,
                }
            } else {
                (item, None)
            };
            let text = String::from_utf8_lossy(path);
            let sp = dir.parse(&text).map_err(|e| e.to_string())?;
            if !self.store.is_valid(&sp).map_err(|e| e.to_string())? {
                return Err(format!("path '{text}' is not valid"));
            }
            if let (Some(o), true) = (output, sp.is_derivation()) {
                let o = String::from_utf8_lossy(o).into_owned();
                match wanted.iter_mut().find(|(d, _)| *d == sp) {
                    Some((_, outs)) => {
                        outs.insert(o);
                    }
                    None => wanted.push((sp, [o].into())),
                }
            }
        }
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        if self.realiser.borrow().is_none() {
            // Without a builder (read-only mode), the derivations this evaluation computed
            // exist only in it; to Nix they are not valid, and that is its error.
            return Err(format!("path '{}' is not valid", dir.display(&wanted[0].0)));
        }
        if !self.allow_ifd.get() {
            return Err(format!(
                "cannot build '{}' during evaluation because the option 'allow-import-from-derivation' is disabled",
                dir.display(&wanted[0].0)
            ));
        }
        if let Some(build) = &*self.realiser.borrow() {
            build(&*self.store, &wanted)?;
        }
        let mut out = Vec::new();
        for (drv, outputs) in &wanted {
            let paths = self
                .store
                .read_derivation(drv)
                .map_err(|e| e.to_string())?
                .outputs;
            for o in outputs {
                let Some(d) = paths.get(o.as_bytes()) else {
                    return Err(format!(
                        "derivation '{}' does not have an output named '{o}'",
                        dir.display(drv)
                    ));
                };
                out.push(d.path.clone());
            }
        }
        Ok(out)
    }

    /// Installs how to open a writable store for the fetchers when [`Self::store`] is
    /// read-only.
    pub fn set_fetch_store_opener(&self, open: Box<StoreOpener>) {
        *self.fetch_store_opener.borrow_mut() = Some(open);
    }

    /// The store the fetchers write to.
    pub fn fetch_store(&self) -> &dyn Store {
        if self.fetch_store.get().is_none() {
            if let Some(open) = self.fetch_store_opener.borrow_mut().take() {
                if let Some(s) = open() {
                    let _ = self.fetch_store.set(s);
                }
            }
        }
        match self.fetch_store.get() {
            Some(s) => &**s,
            None => &*self.store,
        }
    }

    pub fn dir(&self) -> &StoreDir {
        self.store.dir()
    }

    /// The session of an evaluator, or Nix's complaint that there is no store.
    pub fn of<'e>(ev: &'e Evaluator<'_>, pos: Pos) -> Result<&'e StoreSession, Box<EvalError>> {
        ev.store()
            .and_then(|h| h.as_any().downcast_ref::<StoreSession>())
            .ok_or_else(|| EvalError::eval("this evaluation has no Nix store", pos))
    }

    /// Adds text with references, remembering the references.
    pub fn add_text(
        &self,
        name: &str,
        text: &[u8],
        refs: BTreeSet<StorePath>,
    ) -> Result<StorePath, StoreError> {
        let p = self.store.add_text(name, text, &refs)?;
        let dir = self.dir();
        let mut known = self.known.borrow_mut();
        let refs = refs
            .iter()
            .map(|r| known.number(dir.display(r).as_bytes()))
            .collect::<Result<Box<[u32]>, _>>()?;
        known.facts(dir.display(&p).as_bytes())?.refs = Some(refs);
        Ok(p)
    }

    /// Writes a derivation as `<name>.drv` and keeps its modulo hash. `text` is the
    /// derivation's ATerm text (`drv.unparse(false)`).
    pub fn write_derivation(
        &self,
        drv: &Derivation,
        name: &str,
        hash: Hash,
        text: Vec<u8>,
    ) -> Result<StorePath, StoreError> {
        let dir = self.dir();
        let inputs = || drv.input_srcs.iter().chain(drv.input_drvs.keys());
        let mut refs = BTreeSet::new();
        for p in inputs() {
            refs.insert(dir.parse(&String::from_utf8_lossy(p))?);
        }
        let path = self.store.add_text(&format!("{name}.drv"), &text, &refs)?;
        let mut known = self.known.borrow_mut();
        // The inputs as the derivation prints them, which is how `StoreDir::parse` takes
        // them (the exact form only).
        let mut numbers = inputs()
            .map(|p| known.number(p))
            .collect::<Result<Vec<u32>, _>>()?;
        numbers.sort_unstable();
        numbers.dedup();
        let facts = known.facts(dir.display(&path).as_bytes())?;
        facts.refs = Some(numbers.into());
        facts.hash = Some(hash);
        facts.outputs = Some(drv.outputs.keys().cloned().collect());
        Ok(path)
    }

    /// What this evaluation knows of the path printed as `printed`, through `field`.
    fn known<T>(&self, printed: &[u8], field: impl FnOnce(&Facts) -> Option<T>) -> Option<T> {
        self.known.borrow().get(printed).and_then(field)
    }

    /// The modulo hash of the derivation at the full path `text`.
    pub fn drv_hash_of_text(&self, text: &[u8]) -> Result<Hash, StoreError> {
        if let Some(h) = self.known(text, |f| f.hash.clone()) {
            return Ok(h);
        }
        self.drv_hash(&self.dir().parse(&String::from_utf8_lossy(text))?)
    }

    /// The modulo hash of the derivation at `path`, from this evaluation or the store.
    pub fn drv_hash(&self, path: &StorePath) -> Result<Hash, StoreError> {
        let printed = self.dir().display(path);
        if let Some(h) = self.known(printed.as_bytes(), |f| f.hash.clone()) {
            return Ok(h);
        }
        let drv = self.store.read_derivation(path)?;
        let dir = self.dir().clone();
        let h = drv.hash_modulo(false, &mut |p: &[u8]| {
            let sp = dir.parse(&String::from_utf8_lossy(p))?;
            self.drv_hash(&sp)
        })?;
        self.known.borrow_mut().facts(printed.as_bytes())?.hash = Some(h.clone());
        Ok(h)
    }

    /// The output names of a derivation.
    pub fn drv_outputs(&self, path: &StorePath) -> Result<Vec<Vec<u8>>, StoreError> {
        let printed = self.dir().display(path);
        if let Some(o) = self.known(printed.as_bytes(), |f| {
            f.outputs.as_deref().map(<[_]>::to_vec)
        }) {
            return Ok(o);
        }
        Ok(self
            .store
            .read_derivation(path)?
            .outputs
            .into_keys()
            .collect())
    }

    /// The references of a store path.
    pub fn references(&self, path: &StorePath) -> Result<BTreeSet<StorePath>, StoreError> {
        let dir = self.dir();
        {
            let known = self.known.borrow();
            let printed = dir.display(path);
            if let Some(refs) = known.get(printed.as_bytes()).and_then(|f| f.refs.as_ref()) {
                // Numbers of entries, which are never removed.
                return refs
                    .iter()
                    .filter_map(|&r| known.paths.get_index(r as usize))
                    .map(|(p, _)| Ok(dir.parse(&String::from_utf8_lossy(p))?))
                    .collect();
            }
        }
        if path.is_derivation() {
            let drv = self.store.read_derivation(path)?;
            let mut refs = BTreeSet::new();
            for p in drv.input_srcs.iter().chain(drv.input_drvs.keys()) {
                refs.insert(dir.parse(&String::from_utf8_lossy(p))?);
            }
            return Ok(refs);
        }
        self.store.references(path)
    }

    /// Everything `path` refers to, directly or not, and itself.
    pub fn closure(&self, path: &StorePath) -> Result<BTreeSet<StorePath>, StoreError> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![path.clone()];
        while let Some(p) = todo.pop() {
            if seen.insert(p.clone()) {
                todo.extend(self.references(&p)?);
            }
        }
        Ok(seen)
    }

    /// Copies a source file or tree into the store under `name`, once per evaluation.
    pub fn add_source(&self, src: &[u8], name: &str) -> Result<Vec<u8>, StoreError> {
        if let Some(p) = self.sources.borrow().get(src) {
            return Ok(p.clone());
        }
        let p = self.store.add_path(
            name,
            Path::new(OsStr::from_bytes(src)),
            Ingestion::Recursive,
            HashAlgo::Sha256,
            &mut |_| Ok(true),
        )?;
        let full = self.dir().display(&p).into_bytes();
        self.sources.borrow_mut().insert(src.to_vec(), full.clone());
        Ok(full)
    }
}

impl StoreHook for StoreSession {
    fn add_path(&self, path: &[u8]) -> Result<Vec<u8>, String> {
        let name = crate::paths::base_name(path);
        if name.ends_with(b".drv") {
            return Err("file names are not allowed to end in '.drv'".into());
        }
        self.add_source(path, &String::from_utf8_lossy(name))
            .map_err(|e| e.to_string())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
