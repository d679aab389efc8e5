//! Store optimisation: identical files become hard links to one inode, kept under
//! `<store>/.links/<nix32 sha256 of the file's NAR>`.
//!
//! The hash covers the NAR serialisation of the single file, so a file and an executable
//! file with the same bytes stay apart, and a symlink is linked by its target text. The
//! inodes of `.links` are read first (the seed notes' preload): a file whose inode is
//! among them is already linked and is neither hashed nor even `stat`ed again when its
//! directory entry shows the inode. A link whose size differs from the file's is taken
//! for corrupt and replaced.
//!
//! Replacing a file is atomic: a temporary hard link to the `.links` entry takes its place
//! in one exchange ([`replace`]), so a crash leaves either the old file or the link, never
//! neither. Figures are those
//! Nix 2.8 reports: files linked, and the sizes of the files replaced.

use crate::local::{canonicalise_entry, hash_path, io_at, LocalStore, Log};
use crate::{nix32, StoreError, StorePath};
use std::collections::HashSet;
use std::fs;
use std::io;
use std::os::unix::fs::{DirEntryExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What an optimisation did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OptimiseStats {
    /// Files replaced by a link.
    pub files_linked: u64,
    /// The sizes of the files replaced.
    pub bytes_freed: u64,
    /// Their 512-byte blocks.
    pub blocks_freed: u64,
}

/// The inodes already in `.links`.
pub type InodeSet = HashSet<u64>;

/// Nix's `showBytes`: mebibytes with two decimals.
pub fn show_bytes(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Makes a directory of a store path writable while a file in it is replaced, and
/// read-only with the canonical time again afterwards (also when replacing fails).
struct Writable<'a>(Option<&'a Path>);

impl<'a> Writable<'a> {
    fn new(dir: &'a Path, toggle: bool) -> Result<Self, StoreError> {
        if !toggle {
            return Ok(Writable(None));
        }
        let meta = fs::symlink_metadata(dir).map_err(|e| io_at(&e, "getting status of", dir))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(meta.mode() | 0o200))
            .map_err(|e| io_at(&e, "changing writability of", dir))?;
        Ok(Writable(Some(dir)))
    }
}

impl Drop for Writable<'_> {
    fn drop(&mut self) {
        if let Some(dir) = self.0 {
            if let Ok(meta) = fs::symlink_metadata(dir) {
                let _ = canonicalise_entry(dir, &meta);
            }
        }
    }
}

impl LocalStore {
    fn links_dir(&self) -> PathBuf {
        self.config().real_dir.join(".links")
    }

    /// The inodes of the entries of `.links`, created again if it was deleted.
    pub fn load_inodes(&self) -> Result<InodeSet, StoreError> {
        let links = self.links_dir();
        if !links.exists() {
            fs::create_dir_all(&links).map_err(|e| io_at(&e, "creating directory", &links))?;
        }
        let rd = fs::read_dir(&links).map_err(|e| io_at(&e, "opening directory", &links))?;
        let mut set = InodeSet::new();
        for e in rd {
            let e = e.map_err(|e| io_at(&e, "reading directory", &links))?;
            set.insert(e.ino());
        }
        Ok(set)
    }

    /// Optimises every valid path (`nix-store --optimise`). Paths are shared out among a
    /// few threads: most of the time goes into the file system's calls, and two
    /// threads never touch the same store path (so the same directory). Two copies of
    /// one content meeting in `.links` is the race concurrent processes already handle.
    pub fn optimise_all(&self) -> Result<OptimiseStats, StoreError> {
        let paths: Vec<StorePath> = self.all_valid()?.into_iter().collect();
        let inodes = self.load_inodes()?;
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 4)
            .min(paths.len().max(1));
        let results: Vec<Result<OptimiseStats, StoreError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let paths = &paths;
                    let mut inodes = inodes.clone();
                    scope.spawn(move || {
                        let mut stats = OptimiseStats::default();
                        for p in paths.iter().skip(t).step_by(threads) {
                            // A temp root keeps the path from being collected under our
                            // feet; one that went meanwhile is skipped.
                            self.add_temp_root(p)?;
                            if !self.is_valid_path(p)? {
                                continue;
                            }
                            let real = self.config().real_dir.join(p.to_string());
                            self.optimise_tree(&real, &mut inodes, &mut stats, false)?;
                        }
                        Ok(stats)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(StoreError::Other("an optimising thread panicked".into()))
                    })
                })
                .collect()
        });
        let mut stats = OptimiseStats::default();
        for r in results {
            let s = r?;
            stats.files_linked += s.files_linked;
            stats.bytes_freed += s.bytes_freed;
            stats.blocks_freed += s.blocks_freed;
        }
        Ok(stats)
    }

    /// The `auto-optimise-store` step after a path is added or built.
    pub fn auto_optimise(&self, p: &StorePath) -> Result<(), StoreError> {
        if !self.auto_optimise_enabled() {
            return Ok(());
        }
        let real = self.config().real_dir.join(p.to_string());
        let mut inodes = InodeSet::new();
        let mut stats = OptimiseStats::default();
        self.optimise_tree(&real, &mut inodes, &mut stats, false)
    }

    fn is_valid_path(&self, p: &StorePath) -> Result<bool, StoreError> {
        Ok(self.path_info(p)?.is_some())
    }

    /// Optimises the tree at `path` (a real path in the store).
    pub fn optimise_tree(
        &self,
        path: &Path,
        inodes: &mut InodeSet,
        stats: &mut OptimiseStats,
        repair: bool,
    ) -> Result<(), StoreError> {
        let meta = fs::symlink_metadata(path).map_err(|e| io_at(&e, "getting status of", path))?;
        if meta.is_dir() {
            let rd = fs::read_dir(path).map_err(|e| io_at(&e, "opening directory", path))?;
            let mut names = Vec::new();
            for e in rd {
                let e = e.map_err(|e| io_at(&e, "reading directory", path))?;
                // The preload at work: an entry whose inode is in `.links` is done.
                if !inodes.contains(&e.ino()) {
                    names.push(e.file_name());
                }
            }
            names.sort();
            for n in names {
                self.optimise_tree(&path.join(n), inodes, stats, repair)?;
            }
            return Ok(());
        }
        let ft = meta.file_type();
        if !ft.is_file() && !ft.is_symlink() {
            return Ok(());
        }
        if ft.is_file() && meta.mode() & 0o200 != 0 {
            self.log(Log::Warn(format!(
                "skipping suspicious writable file '{}'",
                path.display()
            )));
            return Ok(());
        }
        // A top-level file is not reached through a directory listing.
        if meta.nlink() > 1 && inodes.contains(&meta.ino()) {
            return Ok(());
        }
        let (hash, _) = hash_path(path, false)?;
        let link = self.links_dir().join(nix32::encode(&hash.bytes));

        if let Ok(lmeta) = fs::symlink_metadata(&link) {
            let corrupt =
                lmeta.len() != meta.len() || (repair && hash_path(&link, false)?.0 != hash);
            if corrupt {
                self.log(Log::Warn(format!(
                    "removing corrupted link '{}'",
                    link.display()
                )));
                self.log(Log::Warn(
                    "There may be more corrupted paths.\nYou should run `nix-store --verify --check-contents --repair` to fix them all".into(),
                ));
                let _ = fs::remove_file(&link);
            }
        }

        match fs::hard_link(path, &link) {
            Ok(()) => {
                inodes.insert(meta.ino());
                return Ok(());
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                self.log(Log::Info(format!(
                    "cannot link '{}' to '{}': {}",
                    link.display(),
                    path.display(),
                    crate::io_reason(&e)
                )));
                return Ok(());
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && !self.links_dir().exists() => {
                // `.links` went away under us: make it again and link there.
                let dir = self.links_dir();
                fs::create_dir_all(&dir).map_err(|e| io_at(&e, "creating directory", &dir))?;
                return self.optimise_tree(path, inodes, stats, repair);
            }
            Err(e) => {
                return Err(StoreError::io(
                    format!("cannot link '{}' to '{}'", link.display(), path.display()),
                    &e,
                ))
            }
        }

        let lmeta =
            fs::symlink_metadata(&link).map_err(|e| io_at(&e, "getting status of", &link))?;
        if lmeta.ino() == meta.ino() {
            return Ok(());
        }

        let dir = path.parent().unwrap_or(Path::new("/"));
        let _w = Writable::new(dir, dir != self.config().real_dir)?;
        let tmp = self.temp_path("link")?;
        if let Err(e) = fs::hard_link(&link, &tmp) {
            if e.raw_os_error() == Some(libc::EMLINK) {
                // Too many links to one inode (empty files, typically): leave it.
                if meta.len() > 0 {
                    self.log(Log::Info(format!(
                        "'{}' has maximum number of links",
                        link.display()
                    )));
                }
                return Ok(());
            }
            return Err(StoreError::io(
                format!("cannot link '{}' to '{}'", tmp.display(), link.display()),
                &e,
            ));
        }
        match replace(&tmp, path) {
            Ok(()) => {}
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                if e.raw_os_error() == Some(libc::EMLINK) {
                    return Ok(());
                }
                return Err(StoreError::io(
                    format!("cannot rename '{}' to '{}'", tmp.display(), path.display()),
                    &e,
                ));
            }
        }
        stats.files_linked += 1;
        stats.bytes_freed += meta.len();
        stats.blocks_freed += meta.blocks();
        Ok(())
    }
}

/// Puts the link `tmp` in the place of `path` atomically, and removes what was there.
///
/// The two names are exchanged, and then `tmp` (now the old file) is removed. A plain
/// rename over `path` would do the same in one call, but ext4 (with its default
/// `auto_da_alloc`) writes out the data of the renamed inode before a rename that replaces
/// a file: that is one disk write per file linked, each waited for, where the link's
/// data is often still in memory (a store just built or copied). File systems without
/// exchange get the plain rename.
fn replace(tmp: &Path, path: &Path) -> io::Result<()> {
    use nix::fcntl::{renameat2, RenameFlags, AT_FDCWD};
    match renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RenameFlags::RENAME_EXCHANGE) {
        Ok(()) => fs::remove_file(tmp),
        Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOSYS) => fs::rename(tmp, path),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_puts_the_link_in_place_and_removes_the_old_file() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        fs::write(d.join("link-target"), b"same").unwrap();
        fs::write(d.join("file"), b"same").unwrap();
        std::os::unix::fs::symlink("x", d.join("symlink")).unwrap();
        std::os::unix::fs::symlink("x", d.join("symlink-target")).unwrap();
        for (target, path) in [("link-target", "file"), ("symlink-target", "symlink")] {
            let want = fs::symlink_metadata(d.join(target)).unwrap().ino();
            fs::hard_link(d.join(target), d.join("tmp")).unwrap();
            replace(&d.join("tmp"), &d.join(path)).unwrap();
            assert_eq!(fs::symlink_metadata(d.join(path)).unwrap().ino(), want);
            assert!(
                fs::symlink_metadata(d.join("tmp")).is_err(),
                "the old file stays"
            );
            assert_eq!(fs::symlink_metadata(d.join(target)).unwrap().nlink(), 2);
        }
        assert_eq!(fs::read(d.join("file")).unwrap(), b"same");
        assert_eq!(fs::read_dir(d).unwrap().count(), 4);
    }
}
