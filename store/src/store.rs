//! What evaluation needs from a store, and a store that only computes paths
//! (`--readonly-mode`, or no writable store).

use crate::derivation::Derivation;
use crate::hash::{Hash, HashAlgo, Hasher};
use crate::nar;
use crate::path::{Ingestion, PathError, StoreDir, StorePath};
use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

/// A store operation that failed; the message is what the user sees after `error: `.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Path(#[from] PathError),
    /// A `.drv` the store refuses to accept or build.
    #[error(transparent)]
    Derivation(#[from] crate::drv_check::DrvError),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Other(String),
}

impl StoreError {
    /// Whether Nix reports this as a usage error (followed by "Try '… --help'").
    pub fn is_usage(&self) -> bool {
        matches!(self, StoreError::Derivation(d) if d.is_usage())
    }
}

impl From<io::Error> for StoreError {
    fn from(e: io::Error) -> Self {
        StoreError::Io(crate::io_reason(&e))
    }
}

pub type Filter<'f> = &'f mut dyn FnMut(&Path) -> io::Result<bool>;

/// The operations instantiation uses.
pub trait Store {
    /// The logical store directory.
    fn dir(&self) -> &StoreDir;

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

    /// Whether `p` is registered as valid.
    fn is_valid(&self, p: &StorePath) -> Result<bool, StoreError>;

    /// The paths `p` refers to. A store that keeps no records knows none.
    fn references(&self, _p: &StorePath) -> Result<BTreeSet<StorePath>, StoreError> {
        Ok(BTreeSet::new())
    }

    /// Where the bytes of `p` are on disk (differs from the logical path in a chroot store).
    fn real_path(&self, p: &StorePath) -> PathBuf;

    /// The local store behind this store, for the operations only it has (`nix-store`'s
    /// queries, verification, import and export).
    fn as_local(&self) -> Option<&crate::local::LocalStore> {
        None
    }

    /// Reads and parses a `.drv` from the store.
    fn read_derivation(&self, p: &StorePath) -> Result<Derivation, StoreError> {
        let real = self.real_path(p);
        let text = std::fs::read(&real).map_err(|e| {
            StoreError::Io(format!(
                "opening file '{}': {}",
                real.display(),
                crate::io_reason(&e)
            ))
        })?;
        Derivation::parse(&text).map_err(|e| {
            StoreError::Other(format!(
                "error parsing derivation '{}': {e}",
                self.dir().display(p)
            ))
        })
    }
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
            let mut f = std::fs::File::open(src).map_err(|e| {
                StoreError::Io(format!(
                    "opening file '{}': {}",
                    src.display(),
                    crate::io_reason(&e)
                ))
            })?;
            io::copy(&mut f, &mut h)?;
        }
    }
    let hash = h.finish();
    let p = dir.make_fixed_output_path(method, &hash, name, &BTreeSet::new(), false)?;
    Ok((p, hash))
}

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
