//! Locks as Nix takes them: `flock` on `<path>.lock` files while a path is being added, the
//! shared big lock on `db/big-lock`, and the temporary GC roots file
//! `<state>/temproots/<pid>` that keeps paths in use by this process alive.

use crate::store::StoreError;
use nix::fcntl::{Flock, FlockArg};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

fn io_at(e: impl Into<io::Error>, what: &str, p: &Path) -> StoreError {
    StoreError::io(format!("{what} '{}'", p.display()), &e.into())
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
            Err((_, e)) => return Err(StoreError::io("acquiring lock", &errno(e))),
        }
    }
}

/// Tries to lock `f` without waiting: the lock, or the file back when someone else holds
/// it.
pub fn try_lock_or_keep(f: File, exclusive: bool) -> Result<Result<Flock<File>, File>, StoreError> {
    let arg = if exclusive {
        FlockArg::LockExclusiveNonblock
    } else {
        FlockArg::LockSharedNonblock
    };
    let mut f = f;
    loop {
        match Flock::lock(f, arg) {
            Ok(l) => return Ok(Ok(l)),
            Err((back, nix::errno::Errno::EINTR)) => f = back,
            Err((back, nix::errno::Errno::EWOULDBLOCK)) => return Ok(Err(back)),
            Err((_, e)) => return Err(StoreError::io("acquiring lock", &errno(e))),
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
        let Some(l) = self.file.take() else {
            return;
        };
        let path = std::mem::take(&mut self.path);
        let kept = DEFERRED.with(|d| match d.borrow_mut().as_mut() {
            Some(list) => {
                list.push((l, path));
                None
            }
            None => Some((l, path)),
        });
        if let Some((l, path)) = kept {
            release(l, &path);
        }
    }
}

/// Removes a lock file, marks it stale for whoever opened it meanwhile, and unlocks it.
fn release(mut l: Flock<File>, path: &Path) {
    let _ = std::fs::remove_file(path);
    let _ = l.write_all(b"d");
    drop(l);
}

/// Held path locks and their lock files' names.
type HeldLocks = Vec<(Flock<File>, PathBuf)>;

thread_local! {
    /// Path locks whose release waits for [`Deferred::release`], while one is open.
    static DEFERRED: std::cell::RefCell<Option<HeldLocks>> =
        const { std::cell::RefCell::new(None) };
}

/// While it lives, path locks this thread drops stay held until [`Deferred::release`] (or
/// its drop): a server answers an addition first and unlocks after, off its client's path.
/// Only for work that takes each path's lock once: a second lock on a path still held
/// here would wait for itself.
pub struct Deferred(());

impl Deferred {
    /// Starts holding dropped locks; `None` when this thread already does.
    pub fn begin() -> Option<Deferred> {
        DEFERRED.with(|d| {
            let mut d = d.borrow_mut();
            if d.is_some() {
                return None;
            }
            *d = Some(Vec::new());
            Some(Deferred(()))
        })
    }

    /// Releases the locks dropped since [`begin`](Self::begin), in order.
    pub fn release(self) {}
}

impl Drop for Deferred {
    fn drop(&mut self) {
        let held = DEFERRED.with(|d| d.borrow_mut().take()).unwrap_or_default();
        for (l, path) in held {
            release(l, &path);
        }
    }
}

/// This process's temporary roots file, created on first use.
pub struct TempRoots {
    file: Flock<File>,
    path: PathBuf,
    /// `gc.lock`, held shared while a root is written (a collector holds it exclusively).
    gc_lock_path: PathBuf,
    gc_lock: Option<File>,
    gc_socket: PathBuf,
    /// The connection to a running collector.
    conn: Option<UnixStream>,
    /// The roots written so far: the file keeps them until the process ends, so writing
    /// one again (an addition names its path before and after the copy) is skipped.
    recorded: rustc_hash::FxHashSet<String>,
}

/// The temp-roots files of this process, by state directory: every store object of one
/// state directory in this process shares one (a second `create` would replace the first's
/// file, and with it the roots it recorded).
/// Keyed by process too: a child forked after the first use has its own.
static SHARED: Mutex<SharedRoots> = Mutex::new(BTreeMap::new());

/// (process, canonical state directory) → its temp-roots file while some store uses it.
type SharedRoots = BTreeMap<(u32, PathBuf), Weak<Mutex<TempRoots>>>;

impl TempRoots {
    /// This process's temp-roots file of `state_dir`: the one already open, or a new one
    /// ([`TempRoots::create`]).
    pub fn shared(state_dir: &Path) -> Result<Arc<Mutex<TempRoots>>, StoreError> {
        let pid = std::process::id();
        let dir = std::fs::canonicalize(state_dir).unwrap_or_else(|_| state_dir.to_path_buf());
        let mut g = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = g.get(&(pid, dir.clone())).and_then(Weak::upgrade) {
            return Ok(r);
        }
        let r = Arc::new(Mutex::new(TempRoots::create(state_dir)?));
        // Canonical now that `create` made the directory.
        let dir = std::fs::canonicalize(state_dir).unwrap_or(dir);
        g.retain(|_, w| w.strong_count() > 0);
        g.insert((pid, dir), Arc::downgrade(&r));
        Ok(r)
    }

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
                    gc_lock_path: state_dir.join("gc.lock"),
                    gc_lock: None,
                    gc_socket: state_dir.join("gc-socket").join("socket"),
                    conn: None,
                    recorded: rustc_hash::FxHashSet::default(),
                });
            }
        }
    }

    /// Records `full` (a store path as printed) as a temporary root. While no collector
    /// runs (the GC lock can be had shared), it is written to the file under that lock, so
    /// that a collector starting later reads it. Otherwise the running collector is told
    /// through its socket first, and the path is written to the file after it answered.
    pub fn add(&mut self, full: &str) -> Result<(), StoreError> {
        if self.recorded.contains(full) {
            return Ok(());
        }
        self.add_unrecorded(full)?;
        self.recorded.insert(full.to_string());
        Ok(())
    }

    fn add_unrecorded(&mut self, full: &str) -> Result<(), StoreError> {
        loop {
            let f = match self.gc_lock.take() {
                Some(f) => f,
                None => open_lock_file(&self.gc_lock_path)?,
            };
            match try_lock_or_keep(f, false)? {
                Ok(held) => {
                    let r = self.write_record(full);
                    if let Ok(f) = held.unlock() {
                        self.gc_lock = Some(f);
                    }
                    return r;
                }
                Err(f) => {
                    self.gc_lock = Some(f);
                    if self.tell_collector(full)? {
                        return self.write_record(full);
                    }
                    // The collector is starting or has just finished: try again.
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
            }
        }
    }

    /// Sends `full` to the running collector and waits for its acknowledgement. `false`
    /// when there is no collector to talk to (any more).
    fn tell_collector(&mut self, full: &str) -> Result<bool, StoreError> {
        use std::io::Read;
        if self.conn.is_none() {
            let (_dir, via) = crate::gc::socket_path(&self.gc_socket)
                .map_err(|e| io_at(e, "connecting to", &self.gc_socket))?;
            match UnixStream::connect(&via) {
                Ok(s) => self.conn = Some(s),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound
                    ) =>
                {
                    return Ok(false)
                }
                Err(e) => return Err(io_at(e, "connecting to", &self.gc_socket)),
            }
        }
        let Some(s) = self.conn.as_mut() else {
            return Ok(false);
        };
        let mut ack = [0u8; 1];
        let r = s
            .write_all(format!("{full}\n").as_bytes())
            .and_then(|()| s.read(&mut ack));
        match r {
            Ok(1) if ack[0] == b'1' => Ok(true),
            Ok(1) => Err(StoreError::Other(format!(
                "unexpected reply from the garbage collector at '{}'",
                self.gc_socket.display()
            ))),
            // The collector went away.
            Ok(_) => {
                self.conn = None;
                Ok(false)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::BrokenPipe
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::UnexpectedEof
                ) =>
            {
                self.conn = None;
                Ok(false)
            }
            Err(e) => Err(io_at(e, "writing to", &self.gc_socket)),
        }
    }

    fn write_record(&mut self, full: &str) -> Result<(), StoreError> {
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
    fn deferred_locks_are_held_until_released() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        let held = |p: &Path| {
            let mut l = p.as_os_str().to_owned();
            l.push(".lock");
            let f = open_lock_file(Path::new(&l)).unwrap();
            lock_file(f, true, false).unwrap().is_none()
        };
        let d = Deferred::begin().unwrap();
        // One deferral per thread at a time.
        assert!(Deferred::begin().is_none());
        drop(PathLock::lock(&a).unwrap());
        drop(PathLock::lock(&b).unwrap());
        assert!(held(&a) && held(&b));
        // Other threads release theirs at once.
        let c = tmp.path().join("c");
        std::thread::scope(|s| {
            s.spawn(|| drop(PathLock::lock(&c).unwrap()));
        });
        assert!(!tmp.path().join("c.lock").exists());
        d.release();
        assert!(!tmp.path().join("a.lock").exists());
        assert!(!tmp.path().join("b.lock").exists());
        // And this thread's locks go at once again.
        drop(PathLock::lock(&a).unwrap());
        assert!(!tmp.path().join("a.lock").exists());
        assert!(Deferred::begin().is_some());
    }

    #[test]
    fn temp_roots_file() {
        let tmp = tempfile::tempdir().unwrap();
        let mut r = TempRoots::create(tmp.path()).unwrap();
        r.add("/nix/store/a").unwrap();
        r.add("/nix/store/b").unwrap();
        // A root already written is not written again.
        r.add("/nix/store/a").unwrap();
        let f = tmp
            .path()
            .join("temproots")
            .join(std::process::id().to_string());
        assert_eq!(std::fs::read(&f).unwrap(), b"/nix/store/a\0/nix/store/b\0");
        drop(r);
        assert!(!f.exists());
    }
}
