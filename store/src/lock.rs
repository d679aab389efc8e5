//! Locks as Nix takes them: `flock` on `<path>.lock` files while a path is being added, the
//! shared big lock on `db/big-lock`, and the temporary GC roots file
//! `<state>/temproots/<pid>` that keeps paths in use by this process alive.

use crate::store::StoreError;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

fn io_at(e: impl Into<io::Error>, what: &str, p: &Path) -> StoreError {
    StoreError::Io(format!(
        "{what} '{}': {}",
        p.display(),
        crate::io_reason(&e.into())
    ))
}

fn errno(e: nix::errno::Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// Opens (creating) a lock file.
pub fn open_lock_file(p: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(nix::libc::O_CLOEXEC)
        .open(p)
        .map_err(|e| io_at(e, "opening lock file", p))
}

/// Takes `flock` on `f`, shared or exclusive, waiting when `wait`. Returns `None` when not
/// waiting and someone else holds it.
pub fn lock_file(f: File, exclusive: bool, wait: bool) -> Result<Option<Flock<File>>, StoreError> {
    let arg = match (exclusive, wait) {
        (true, true) => FlockArg::LockExclusive,
        (true, false) => FlockArg::LockExclusiveNonblock,
        (false, true) => FlockArg::LockShared,
        (false, false) => FlockArg::LockSharedNonblock,
    };
    let mut f = f;
    loop {
        match Flock::lock(f, arg) {
            Ok(l) => return Ok(Some(l)),
            Err((back, nix::errno::Errno::EINTR)) => f = back,
            Err((_, nix::errno::Errno::EWOULDBLOCK)) if !wait => return Ok(None),
            Err((_, e)) => {
                return Err(StoreError::Io(format!(
                    "acquiring lock: {}",
                    crate::io_reason(&errno(e))
                )))
            }
        }
    }
}

/// An exclusive lock on `<path>.lock`, released (and the lock file removed) on drop.
pub struct PathLock {
    file: Option<Flock<File>>,
    path: PathBuf,
}

impl PathLock {
    /// Locks `path` (the real location of a store path), waiting for other holders.
    pub fn lock(path: &Path) -> Result<PathLock, StoreError> {
        Self::take(path, true).map(|l| l.expect("a waiting lock is always taken"))
    }

    /// Locks `path` if nobody holds it; `None` if someone does.
    pub fn try_lock(path: &Path) -> Result<Option<PathLock>, StoreError> {
        Self::take(path, false)
    }

    fn take(path: &Path, wait: bool) -> Result<Option<PathLock>, StoreError> {
        let mut lock_path = path.as_os_str().to_owned();
        lock_path.push(".lock");
        let lock_path = PathBuf::from(lock_path);
        loop {
            let f = open_lock_file(&lock_path)?;
            let Some(l) = lock_file(f, true, wait)? else {
                if wait {
                    continue;
                }
                return Ok(None);
            };
            // A previous holder deletes the file and marks it stale with a byte; if we got
            // such a file, take the lock again on a fresh one.
            let stale = l
                .metadata()
                .map_err(|e| io_at(e, "statting lock file", &lock_path))?
                .size()
                != 0;
            if stale {
                continue;
            }
            return Ok(Some(PathLock {
                file: Some(l),
                path: lock_path,
            }));
        }
    }
}

impl Drop for PathLock {
    fn drop(&mut self) {
        if let Some(mut l) = self.file.take() {
            let _ = std::fs::remove_file(&self.path);
            let _ = l.write_all(b"d");
            drop(l);
        }
    }
}

/// This process's temporary roots file, created on first use.
pub struct TempRoots {
    file: Flock<File>,
    path: PathBuf,
    gc_socket: PathBuf,
}

impl TempRoots {
    /// Creates `<state>/temproots/<pid>` and locks it for as long as it lives.
    pub fn create(state_dir: &Path) -> Result<TempRoots, StoreError> {
        let dir = state_dir.join("temproots");
        std::fs::create_dir_all(&dir).map_err(|e| io_at(e, "creating directory", &dir))?;
        let path = dir.join(std::process::id().to_string());
        loop {
            let _ = std::fs::remove_file(&path);
            let f = open_lock_file(&path)?;
            let Some(l) = lock_file(f, true, true)? else {
                continue;
            };
            // The garbage collector removes files of dead processes and marks them; a
            // non-empty file means we lost that race.
            if l.metadata().map(|m| m.size()).unwrap_or(1) == 0 {
                return Ok(TempRoots {
                    file: l,
                    path,
                    gc_socket: state_dir.join("gc-socket").join("socket"),
                });
            }
        }
    }

    /// Records `full` (a store path as printed) as a temporary root.
    pub fn add(&mut self, full: &str) -> Result<(), StoreError> {
        // A running collector learns of new roots through its socket.
        if let Ok(mut s) = std::os::unix::net::UnixStream::connect(&self.gc_socket) {
            use std::io::Read;
            let _ = s.write_all(format!("{full}\n").as_bytes());
            let mut ack = [0u8; 1];
            let _ = s.read(&mut ack);
        }
        let mut rec = full.as_bytes().to_vec();
        rec.push(0);
        self.file
            .write_all(&rec)
            .map_err(|e| io_at(e, "writing to", &self.path))
    }
}

impl Drop for TempRoots {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_lock_excludes_and_cleans_up() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("x");
        let l = PathLock::lock(&p).unwrap();
        let other = open_lock_file(&tmp.path().join("x.lock")).unwrap();
        assert!(lock_file(other, true, false).unwrap().is_none());
        drop(l);
        assert!(!tmp.path().join("x.lock").exists());
        let _again = PathLock::lock(&p).unwrap();
    }

    #[test]
    fn temp_roots_file() {
        let tmp = tempfile::tempdir().unwrap();
        let mut r = TempRoots::create(tmp.path()).unwrap();
        r.add("/nix/store/a").unwrap();
        r.add("/nix/store/b").unwrap();
        let f = tmp
            .path()
            .join("temproots")
            .join(std::process::id().to_string());
        assert_eq!(std::fs::read(&f).unwrap(), b"/nix/store/a\0/nix/store/b\0");
        drop(r);
        assert!(!f.exists());
    }
}
