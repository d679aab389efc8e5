//! The garbage collector of the local store, with Nix 2.8's semantics.
//!
//! **Roots.** Symlinks into the store under `gcroots/` and `profiles/` (walked recursively,
//! symlinks to directories not followed), symlinks there that point to a symlink into the
//! store (indirect roots, as `gcroots/auto` holds them; stale ones under `auto` are removed),
//! regular files whose name is a store path, the store paths running processes hold
//! (`/proc`), and the temporary roots of live processes (`temproots/<pid>`, alive while
//! their owner holds its lock).
//!
//! **Liveness.** The collector takes the GC lock (`gc.lock`, exclusive) and listens on
//! `gc-socket/socket` before it reads the temporary roots: a process adding a path first
//! tries the lock shared; if it cannot have it, a collector runs and it sends the path to
//! the socket instead, waiting for the acknowledgement. Then the collector walks the store
//! directory. For each entry it visits the referrers (and, with `keep-derivations`, the
//! outputs of derivations; with `keep-outputs`, the derivers) transitively: if one of them
//! is a root or already known alive, all are alive (with the closure of that root);
//! otherwise all are dead, and are deleted referrers first. A path is unregistered before
//! its files go, and its files are moved out of the way by a rename before they are
//! removed, so that no registered path is ever half deleted.
//!
//! **Figures.** A deleted file counts its size when it has one or two links (a file that is
//! also in `.links` most likely frees its space once `.links` is cleaned), as Nix 2.8
//! counts; the `.links` entries removed afterwards are not counted again.

use crate::local::{LocalStore, Log};
use crate::path::StorePath;
use crate::store::{GcAction, GcOptions, GcResult, Roots, Store, StoreError};
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::fs;
use std::io::{self, BufRead, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

/// What keeps paths alive besides the roots: Nix's `keep-outputs` and `keep-derivations`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcPolicy {
    /// The outputs of live derivations are alive.
    pub keep_outputs: bool,
    /// The derivers of live paths are alive.
    pub keep_derivations: bool,
}

impl Default for GcPolicy {
    fn default() -> Self {
        GcPolicy {
            keep_outputs: false,
            keep_derivations: true,
        }
    }
}

/// Why the collector refused to go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GcError {
    /// `--delete` of a path that a root or a live path still needs.
    #[error("Cannot delete path '{0}' since it is still alive. To find out why, use: nix-store --query --roots")]
    Alive(String),
    /// A dead path that a valid path still refers to (the database changed under us).
    #[error("cannot delete path '{path}' because it is in use by {referrers}")]
    InUse { path: String, referrers: String },
    /// The socket for new roots cannot be set up.
    #[error("{0}")]
    Socket(String),
}

use crate::local::{io_at, lock};

/// Nix's `canonPath(absPath(target, dir))`: `target` made absolute against `dir`, with `.`
/// and `..` resolved lexically.
fn abs_path(target: &Path, dir: &Path) -> PathBuf {
    crate::path::abs_path(target, Some(dir))
}

// ---- roots ----

/// Every root and where it was found: [`find_roots_no_temp`] and [`find_temp_roots`].
/// With `censor`, runtime and temporary roots are listed as `{censored}`.
pub fn find_roots(store: &LocalStore, censor: bool) -> Result<Roots, StoreError> {
    let mut roots = Roots::new();
    find_roots_no_temp(store, censor, &mut roots)?;
    find_temp_roots(store, censor, &mut roots)?;
    Ok(roots)
}

/// The roots under `gcroots/` and `profiles/`, and the runtime roots.
pub fn find_roots_no_temp(
    store: &LocalStore,
    censor: bool,
    roots: &mut Roots,
) -> Result<(), StoreError> {
    let state = &store.config().state_dir;
    let auto = state.join("gcroots").join("auto");
    let mut scan = RootScan {
        store,
        auto: &auto,
        roots,
    };
    scan.visit(&state.join("gcroots"), None, 0)?;
    scan.visit(&state.join("profiles"), None, 0)?;
    find_runtime_roots(store, censor, roots);
    Ok(())
}

struct RootScan<'a> {
    store: &'a LocalStore,
    auto: &'a Path,
    roots: &'a mut Roots,
}

/// An error while looking at a potential root: a permanent one (the root is skipped) or
/// one that stops the search.
enum ScanError {
    Io(io::Error),
    Fatal(StoreError),
}

impl From<io::Error> for ScanError {
    fn from(e: io::Error) -> Self {
        ScanError::Io(e)
    }
}

impl RootScan<'_> {
    fn found(&mut self, link: &Path, target: &str) {
        let Ok((p, _)) = self.store.dir().split(target) else {
            return;
        };
        if self.store.is_valid(&p).unwrap_or(false) {
            self.roots
                .entry(p)
                .or_default()
                .insert(link.display().to_string());
        } else {
            self.store.log(Log::Info(format!(
                "skipping invalid root from '{}' to '{target}'",
                link.display()
            )));
        }
    }

    fn visit(
        &mut self,
        path: &Path,
        ft: Option<fs::FileType>,
        depth: usize,
    ) -> Result<(), StoreError> {
        match self.visit_inner(path, ft, depth) {
            Ok(()) => Ok(()),
            Err(ScanError::Fatal(e)) => Err(e),
            Err(ScanError::Io(e)) => {
                use nix::libc::{EACCES, ENOENT, ENOTDIR};
                if matches!(e.raw_os_error(), Some(EACCES | ENOENT | ENOTDIR)) {
                    self.store.log(Log::Info(format!(
                        "cannot read potential root '{}'",
                        path.display()
                    )));
                    Ok(())
                } else {
                    Err(io_at(&e, "reading potential root", path))
                }
            }
        }
    }

    fn visit_inner(
        &mut self,
        path: &Path,
        ft: Option<fs::FileType>,
        depth: usize,
    ) -> Result<(), ScanError> {
        let ft = match ft {
            Some(t) => t,
            None => fs::symlink_metadata(path)?.file_type(),
        };
        if ft.is_dir() {
            // Symlinks to directories are not followed, so only very deep trees recurse
            // this far.
            if depth > 512 {
                return Ok(());
            }
            for e in fs::read_dir(path)? {
                let e = e?;
                let t = e.file_type().ok();
                self.visit(&e.path(), t, depth + 1)
                    .map_err(ScanError::Fatal)?;
            }
        } else if ft.is_symlink() {
            let target = fs::read_link(path)?;
            let ts = target.to_string_lossy().into_owned();
            if self.store.dir().is_in_store(&ts) {
                self.found(path, &ts);
            } else {
                // An indirect root: a symlink to a symlink into the store.
                let target = abs_path(&target, path.parent().unwrap_or(Path::new("/")));
                match fs::symlink_metadata(&target) {
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        if path.starts_with(self.auto) && path != self.auto {
                            self.store.log(Log::Info(format!(
                                "removing stale link from '{}' to '{}'",
                                path.display(),
                                target.display()
                            )));
                            let _ = fs::remove_file(path);
                        }
                    }
                    Err(e) => return Err(e.into()),
                    Ok(m) if m.file_type().is_symlink() => {
                        let t2 = fs::read_link(&target)?;
                        let t2 = t2.to_string_lossy().into_owned();
                        if self.store.dir().is_in_store(&t2) {
                            self.found(&target, &t2);
                        }
                    }
                    Ok(_) => {}
                }
            }
        } else if ft.is_file() {
            if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
                if let Ok(p) = StorePath::from_base_name(name) {
                    if self.store.is_valid(&p).unwrap_or(false) {
                        self.roots
                            .entry(p)
                            .or_default()
                            .insert(path.display().to_string());
                    }
                }
            }
        }
        Ok(())
    }
}

/// The target of the link `file` under `/proc`, if it is absolute.
fn read_proc_link(file: String, found: &mut HashMap<String, BTreeSet<String>>) {
    if let Ok(t) = fs::read_link(&file) {
        let t = t.to_string_lossy().into_owned();
        if t.starts_with('/') {
            found.entry(t).or_default().insert(file);
        }
    }
}

/// The store paths mentioned in `env` (a process's environment): the store directory, `/`,
/// a lower-case letter or digit, then name characters.
fn store_paths_in(env: &[u8], store_dir: &str) -> Vec<String> {
    let mut out = Vec::new();
    let prefix = format!("{store_dir}/");
    let pre = prefix.as_bytes();
    let mut i = 0;
    while i + pre.len() < env.len() {
        if &env[i..i + pre.len()] != pre {
            i += 1;
            continue;
        }
        let first = env[i + pre.len()];
        if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
            i += 1;
            continue;
        }
        let mut end = i + pre.len() + 1;
        while end < env.len() && (env[end].is_ascii_alphanumeric() || b"+-._?=".contains(&env[end]))
        {
            end += 1;
        }
        out.push(String::from_utf8_lossy(&env[i..end]).into_owned());
        i = end;
    }
    out
}

/// The store paths running processes use: their executable, working directory, open
/// files, mapped files and environment, and the helpers the kernel runs.
pub fn find_runtime_roots(store: &LocalStore, censor: bool, roots: &mut Roots) {
    let mut found: HashMap<String, BTreeSet<String>> = HashMap::new();
    if let Ok(rd) = fs::read_dir("/proc") {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            read_proc_link(format!("/proc/{name}/exe"), &mut found);
            read_proc_link(format!("/proc/{name}/cwd"), &mut found);
            let fd_dir = format!("/proc/{name}/fd");
            let Ok(fds) = fs::read_dir(&fd_dir) else {
                continue;
            };
            for fd in fds.flatten() {
                let n = fd.file_name().to_string_lossy().into_owned();
                if !n.starts_with('.') {
                    read_proc_link(format!("{fd_dir}/{n}"), &mut found);
                }
            }
            let maps = format!("/proc/{name}/maps");
            let Ok(text) = fs::read(&maps) else { continue };
            for line in String::from_utf8_lossy(&text).lines() {
                let f: Vec<&str> = line.split_whitespace().collect();
                if f.len() == 6 && f[5].starts_with('/') {
                    found
                        .entry(f[5].to_string())
                        .or_default()
                        .insert(maps.clone());
                }
            }
            let environ = format!("/proc/{name}/environ");
            let Ok(env) = fs::read(&environ) else {
                continue;
            };
            for p in store_paths_in(&env, store.dir().as_str()) {
                found.entry(p).or_default().insert(environ.clone());
            }
        }
    }
    for f in [
        "/proc/sys/kernel/modprobe",
        "/proc/sys/kernel/fbsplash",
        "/proc/sys/kernel/poweroff_cmd",
    ] {
        if let Ok(t) = fs::read(f) {
            found
                .entry(String::from_utf8_lossy(&t).into_owned())
                .or_default()
                .insert(f.to_string());
        }
    }
    for (target, links) in found {
        if !store.dir().is_in_store(&target) {
            continue;
        }
        let Ok((p, _)) = store.dir().split(&target) else {
            continue;
        };
        if !store.is_valid(&p).unwrap_or(false) {
            continue;
        }
        let e = roots.entry(p).or_default();
        if censor {
            e.insert("{censored}".into());
        } else {
            e.extend(links);
        }
    }
}

/// The temporary roots of live processes. The files of dead processes (which nobody holds
/// locked) are removed.
pub fn find_temp_roots(
    store: &LocalStore,
    censor: bool,
    roots: &mut Roots,
) -> Result<(), StoreError> {
    let dir = store.config().state_dir.join("temproots");
    let rd = match fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_at(&e, "opening directory", &dir)),
    };
    for e in rd {
        let e = e.map_err(|e| io_at(&e, "reading directory", &dir))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let Ok(pid) = name.parse::<i32>() else {
            continue;
        };
        let path = e.path();
        let f = match fs::OpenOptions::new().read(true).write(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_at(&e, "opening temporary roots file", &path)),
        };
        let f = match crate::lock::try_lock_or_keep(f, true)? {
            Ok(mut held) => {
                // Nobody holds it: its process is gone.
                store.log(Log::Info(format!(
                    "removing stale temporary roots file '{}'",
                    path.display()
                )));
                let _ = fs::remove_file(&path);
                let _ = held.write_all(b"d");
                continue;
            }
            Err(f) => f,
        };
        let mut data = Vec::new();
        io::Read::read_to_end(&mut &f, &mut data)
            .map_err(|e| io_at(&e, "reading temporary roots file", &path))?;
        let mut records: Vec<&[u8]> = data.split(|&b| b == 0).collect();
        // What follows the last NUL is a record still being written.
        records.pop();
        for r in records {
            let Ok(p) = store.dir().parse(&String::from_utf8_lossy(r)) else {
                continue;
            };
            roots.entry(p).or_default().insert(if censor {
                "{censored}".into()
            } else {
                format!("{{temp:{pid}}}")
            });
        }
    }
    Ok(())
}

// ---- the socket for roots added while the collector runs ----

/// What the collector shares with the threads serving its socket.
#[derive(Default)]
struct Shared {
    state: Mutex<SharedState>,
    wakeup: Condvar,
}

#[derive(Default)]
struct SharedState {
    /// Hash parts of the temporary roots (a hash part also covers `.lock`, `.chroot` and
    /// `.check` siblings of a path).
    temp_roots: HashSet<String>,
    /// Hash part of the path being deleted, if any.
    pending: Option<String>,
    /// Hash parts of the paths found dead and waiting in the deletion batch.
    doomed: HashSet<String>,
    stopping: bool,
}

impl Shared {
    fn set_pending(&self, h: Option<String>) {
        lock(&self.state).pending = h;
        self.wakeup.notify_all();
    }
}

/// Serves one client of the roots socket: each line is a store path, acknowledged with
/// `1` once it is a root (and not being deleted).
fn serve_client(store: &LocalStore, shared: &Shared, stream: UnixStream) {
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut r = io::BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if !line.ends_with('\n') {
            return;
        }
        line.pop();
        match store.dir().parse(&line) {
            Ok(p) => {
                let h = p.hash_part().to_string();
                let mut st = lock(&shared.state);
                st.temp_roots.insert(h.clone());
                // A path being deleted must be gone before the client re-creates it.
                while (st.pending.as_deref() == Some(h.as_str()) || st.doomed.contains(&h))
                    && !st.stopping
                {
                    st = shared.wakeup.wait(st).unwrap_or_else(|p| p.into_inner());
                }
            }
            Err(_) => store.log(Log::Error(
                "received garbage instead of a root from client".into(),
            )),
        }
        if out.write_all(b"1").is_err() {
            return;
        }
    }
}

/// A path by which a socket at `p` can be bound or reached even when `p` is longer than a
/// socket address allows: through an open descriptor of its directory. The directory must
/// stay open while the path is used.
pub(crate) fn socket_path(p: &Path) -> io::Result<(Option<fs::File>, PathBuf)> {
    use std::os::fd::AsRawFd;
    if p.as_os_str().len() < 100 {
        return Ok((None, p.to_path_buf()));
    }
    let dir = fs::File::open(p.parent().unwrap_or(Path::new("/")))?;
    let name = p.file_name().unwrap_or_default();
    let via = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name);
    Ok((Some(dir), via))
}

/// The listening socket at `gc-socket/socket`, replacing a stale one, writable by all.
fn bind_socket(state_dir: &Path) -> Result<UnixListener, StoreError> {
    let dir = state_dir.join("gc-socket");
    fs::create_dir_all(&dir).map_err(|e| io_at(&e, "creating directory", &dir))?;
    let path = dir.join("socket");
    match fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_at(&e, "removing", &path)),
    }
    let (_dir, via) =
        socket_path(&path).map_err(|e| io_at(&e, "opening the directory of", &path))?;
    let l = UnixListener::bind(&via).map_err(|e| {
        GcError::Socket(format!(
            "cannot bind to socket '{}': {}",
            path.display(),
            crate::io_reason(&e)
        ))
    })?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o666))
        .map_err(|e| io_at(&e, "changing permissions of", &path))?;
    l.set_nonblocking(true)
        .map_err(|e| io_at(&e, "making socket non-blocking", &path))?;
    Ok(l)
}

/// Accepts clients until `stop` becomes readable; each client gets a thread. On the way
/// out, every client connection is shut down and its thread joined.
fn serve<'s, 'e: 's>(
    scope: &'s std::thread::Scope<'s, 'e>,
    store: &'e LocalStore,
    shared: &'e Shared,
    listener: &'e UnixListener,
    stop: &'e std::os::fd::OwnedFd,
) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut clients: Vec<(UnixStream, std::thread::ScopedJoinHandle<'s, ()>)> = Vec::new();
    loop {
        let mut fds = [
            PollFd::new(stop.as_fd(), PollFlags::POLLIN),
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
        }
        if fds[0].revents().is_some_and(|r| !r.is_empty()) {
            break;
        }
        if fds[1].revents().is_some_and(|r| !r.is_empty()) {
            let Ok((conn, _)) = listener.accept() else {
                continue;
            };
            if conn.set_nonblocking(false).is_err() {
                continue;
            }
            let Ok(keep) = conn.try_clone() else { continue };
            let h = scope.spawn(move || serve_client(store, shared, conn));
            clients.retain(|(_, h)| !h.is_finished());
            clients.push((keep, h));
        }
    }
    lock(&shared.state).stopping = true;
    shared.wakeup.notify_all();
    for (c, h) in clients {
        let _ = c.shutdown(std::net::Shutdown::Both);
        let _ = h.join();
    }
}

// ---- the collector ----

/// Why the walk stopped early.
enum Stop {
    /// `max-freed` bytes are freed.
    Limit,
    Fail(StoreError),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Fail(e)
    }
}

impl From<GcError> for Stop {
    fn from(e: GcError) -> Self {
        Stop::Fail(e.into())
    }
}

/// Removes the file or tree at `p`, making directories writable as needed, and returns
/// the bytes Nix 2.8 counts as freed: the sizes of the non-directories with one or two
/// links.
pub fn delete_counting(p: &Path) -> io::Result<u64> {
    let meta = match fs::symlink_metadata(p) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut freed = 0;
    if meta.is_dir() {
        if meta.mode() & 0o700 != 0o700 {
            fs::set_permissions(p, fs::Permissions::from_mode(meta.mode() | 0o700))?;
        }
        for e in fs::read_dir(p)? {
            freed += delete_counting(&e?.path())?;
        }
    } else if meta.nlink() <= 2 {
        freed += meta.size();
    }
    let r = if meta.is_dir() {
        fs::remove_dir(p)
    } else {
        fs::remove_file(p)
    };
    match r {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(freed),
    }
}

struct Collector<'a> {
    store: &'a LocalStore,
    opts: &'a GcOptions,
    shared: &'a Shared,
    keep_outputs: bool,
    keep_derivations: bool,
    should_delete: bool,
    roots: HashSet<StorePath>,
    alive: HashSet<StorePath>,
    dead: HashSet<StorePath>,
    referrers: HashMap<StorePath, BTreeSet<StorePath>>,
    paths: BTreeSet<String>,
    bytes_freed: u64,
    /// Dead paths, referrers first, waiting to be unregistered (in one transaction) and
    /// deleted; at most `batch_limit` (1 with `--max-freed`, so that it stops where Nix
    /// stops).
    batch: Vec<StorePath>,
    batch_limit: usize,
}

impl Collector<'_> {
    fn valid(&self, p: &StorePath) -> Result<bool, StoreError> {
        self.store.with_db(|db| db.is_valid(p))
    }

    /// Deletes `base` from the real store directory (unregistered already) and counts it.
    fn delete_from_store(&mut self, base: &str) -> Result<(), Stop> {
        let shown = format!("{}/{base}", self.store.dir().as_str());
        self.store.log(Log::Info(format!("deleting '{shown}'")));
        self.paths.insert(shown);
        let real = self.store.config().real_dir.join(base);
        // Out of the way first, so that nothing half deleted is ever at a store path.
        let trash = crate::nar::temp_sibling(&real, "gc");
        let freed = match fs::rename(&real, &trash) {
            Ok(()) => delete_counting(&trash).map_err(|e| io_at(&e, "deleting", &real))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(io_at(&e, "deleting", &real).into()),
        };
        self.bytes_freed = self.bytes_freed.saturating_add(freed);
        if self.bytes_freed > self.opts.max_freed {
            self.store.log(Log::Info(format!(
                "deleted more than {} bytes; stopping",
                self.opts.max_freed
            )));
            return Err(Stop::Limit);
        }
        Ok(())
    }

    /// The closure of `p` under references, with the outputs of derivations when
    /// `keep-outputs` and the derivers when `keep-derivations`. `None` when a path in it is
    /// not valid.
    fn live_closure(&self, p: &StorePath) -> Result<Option<BTreeSet<StorePath>>, StoreError> {
        let mut done = BTreeSet::new();
        let mut todo = vec![p.clone()];
        while let Some(q) = todo.pop() {
            // What is alive already needs no walk: what it refers to is alive too, or is
            // found alive through it when visited.
            if done.contains(&q) || (q != *p && self.alive.contains(&q)) {
                continue;
            }
            let next = self.store.with_db(|db| {
                let Some((mut next, deriver)) = db.references_and_deriver(&q)? else {
                    return Ok(None);
                };
                if self.keep_outputs && q.is_derivation() {
                    for o in db.derivation_outputs(&q)?.into_values() {
                        if db.is_valid(&o)? {
                            next.push(o);
                        }
                    }
                }
                if self.keep_derivations {
                    if let Some(d) = deriver {
                        if db.is_valid(&d)? {
                            next.push(d);
                        }
                    }
                }
                Ok(Some(next))
            })?;
            let Some(next) = next else { return Ok(None) };
            done.insert(q);
            todo.extend(next.into_iter().filter(|n| !done.contains(n)));
        }
        Ok(Some(done))
    }

    fn mark_alive(&mut self, p: &StorePath, start: &StorePath) -> Result<(), StoreError> {
        self.alive.insert(p.clone());
        self.alive.insert(start.clone());
        if let Some(c) = self.live_closure(p)? {
            self.alive.extend(c);
        }
        Ok(())
    }

    /// What may keep `p` alive: its referrers, with `keep-derivations` the outputs of a
    /// derivation that it is the deriver of, with `keep-outputs` its derivers.
    fn keepers(&mut self, p: &StorePath) -> Result<Vec<StorePath>, StoreError> {
        let refs = match self.referrers.get(p) {
            Some(r) => r.clone(),
            None => {
                let r = self.store.with_db(|db| db.referrers(p))?;
                self.referrers.insert(p.clone(), r.clone());
                r
            }
        };
        let mut out: Vec<StorePath> = refs.into_iter().collect();
        if self.keep_derivations && p.is_derivation() {
            let outs = self.store.with_db(|db| db.derivation_outputs(p))?;
            for o in outs.into_values() {
                let deriver = self
                    .store
                    .with_db(|db| db.path_info(&o))?
                    .and_then(|i| i.deriver);
                if deriver.as_ref() == Some(p) {
                    out.push(o);
                }
            }
        }
        if self.keep_outputs {
            out.extend(self.store.with_db(|db| db.valid_derivers(p))?);
        }
        Ok(out)
    }

    /// Visits what may keep `start` alive, transitively. If none of it is a root or alive,
    /// all of it is dead and, when deleting, deleted (referrers first).
    fn delete_referrers_closure(&mut self, start: &StorePath) -> Result<(), Stop> {
        let r = self.referrers_closure(start);
        self.shared.set_pending(None);
        r
    }

    fn referrers_closure(&mut self, start: &StorePath) -> Result<(), Stop> {
        let mut visited = BTreeSet::new();
        let mut todo = VecDeque::new();
        visited.insert(start.clone());
        todo.push_back(start.clone());
        while let Some(p) = todo.pop_front() {
            if self.alive.contains(&p) {
                self.alive.insert(start.clone());
                return Ok(());
            }
            if self.dead.contains(&p) {
                continue;
            }
            if self.roots.contains(&p) {
                self.mark_alive(&p, start)?;
                return Ok(());
            }
            if self.opts.action == GcAction::DeleteSpecific && !self.opts.paths.contains(&p) {
                return Ok(());
            }
            {
                let h = p.hash_part().to_string();
                let mut st = lock(&self.shared.state);
                if st.temp_roots.contains(&h) {
                    drop(st);
                    self.mark_alive(&p, start)?;
                    return Ok(());
                }
                st.pending = Some(h);
            }
            if self.valid(&p)? {
                for k in self.keepers(&p)? {
                    if visited.insert(k.clone()) {
                        todo.push_back(k);
                    }
                }
            }
        }
        let order = self.store.topo_sort(&visited)?;
        for (i, p) in order.iter().enumerate() {
            if self.dead.contains(p) {
                continue;
            }
            if self.should_delete {
                // A root that arrived since the walk keeps this path and what it refers to.
                {
                    let h = p.hash_part().to_string();
                    let mut st = lock(&self.shared.state);
                    if st.temp_roots.contains(&h) {
                        drop(st);
                        for q in &order[i..] {
                            if !self.dead.contains(q) {
                                self.alive.insert(q.clone());
                            }
                        }
                        self.alive.insert(start.clone());
                        return Ok(());
                    }
                    st.doomed.insert(h);
                }
                self.dead.insert(p.clone());
                self.batch.push(p.clone());
                if self.batch.len() >= self.batch_limit {
                    self.flush()?;
                }
            } else {
                self.dead.insert(p.clone());
            }
        }
        Ok(())
    }

    /// Unregisters the batch of dead paths in one transaction, then deletes their files.
    /// Nothing is deleted that is still registered.
    fn flush(&mut self) -> Result<(), Stop> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        let r = (|| {
            let refused = self
                .store
                .with_db(|db| db.invalidate_all_unreferenced(&batch))?;
            if let Some((i, users)) = refused {
                return Err(self.in_use(&batch[i], &users));
            }
            let mut r = Ok(());
            for p in &batch {
                match self.delete_from_store(p.base_name()) {
                    Ok(()) => {}
                    // Past `--max-freed`: the rest is unregistered already, so it goes too.
                    Err(Stop::Limit) => r = Err(Stop::Limit),
                    Err(e) => return Err(e),
                }
                self.referrers.remove(p);
            }
            r
        })();
        {
            let mut st = lock(&self.shared.state);
            for p in &batch {
                st.doomed.remove(p.hash_part());
            }
        }
        self.shared.wakeup.notify_all();
        r
    }

    fn in_use(&self, p: &StorePath, users: &[StorePath]) -> Stop {
        let shown: Vec<String> = users
            .iter()
            .map(|u| format!("'{}'", self.store.print(u)))
            .collect();
        let e: StoreError = GcError::InUse {
            path: self.store.print(p),
            referrers: shown.join(", "),
        }
        .into();
        e.into()
    }

    /// The walk, then what is left in the batch.
    fn walk(&mut self) -> Result<(), Stop> {
        let r = self.walk_inner();
        let f = self.flush();
        r.and(f)
    }

    fn walk_inner(&mut self) -> Result<(), Stop> {
        let store = self.store;
        let opts = self.opts;
        if opts.action == GcAction::DeleteSpecific {
            for p in &opts.paths {
                self.delete_referrers_closure(p)?;
                if !self.dead.contains(p) {
                    return Err(GcError::Alive(store.print(p)).into());
                }
            }
            return Ok(());
        }
        if opts.max_freed == 0 {
            return Ok(());
        }
        store.log(Log::Info(if self.should_delete {
            "deleting garbage...".into()
        } else {
            "determining live/dead paths...".into()
        }));
        let real = &store.config().real_dir;
        let rd = fs::read_dir(real).map_err(|e| io_at(&e, "opening directory", real))?;
        for e in rd {
            let e = e.map_err(|e| io_at(&e, "reading directory", real))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name == ".links" {
                continue;
            }
            // What Ferrix is writing right now is not garbage yet (its temporaries are
            // temp roots too, for other collectors).
            if crate::local::is_live_temp(&name) {
                continue;
            }
            match StorePath::from_base_name(&name) {
                Ok(p) => self.delete_referrers_closure(&p)?,
                Err(_) => self.delete_from_store(&name)?,
            }
        }
        Ok(())
    }
}

/// Removes `.links` entries nothing links to any more, and reports what linking saves.
fn delete_unused_links(store: &LocalStore) -> Result<(), StoreError> {
    store.log(Log::Info("deleting unused links...".into()));
    let links = store.config().real_dir.join(".links");
    let rd = fs::read_dir(&links).map_err(|e| io_at(&e, "opening directory", &links))?;
    let mut actual: i64 = 0;
    let mut unshared: i64 = 0;
    for e in rd {
        let e = e.map_err(|e| io_at(&e, "reading directory", &links))?;
        let path = e.path();
        let m = fs::symlink_metadata(&path).map_err(|e| io_at(&e, "getting status of", &path))?;
        let size = m.size() as i64;
        if m.nlink() != 1 {
            actual += size;
            unshared += (m.nlink() as i64 - 1) * size;
            continue;
        }
        fs::remove_file(&path).map_err(|e| io_at(&e, "deleting", &path))?;
    }
    let overhead = fs::metadata(&links)
        .map_err(|e| io_at(&e, "statting", &links))?
        .blocks() as i64
        * 512;
    store.log(Log::Info(format!(
        "note: currently hard linking saves {:.2} MiB",
        (unshared - actual - overhead) as f64 / (1024.0 * 1024.0)
    )));
    Ok(())
}

/// Takes the GC lock (`gc.lock`) exclusively, saying so when it has to wait.
fn take_gc_lock(store: &LocalStore) -> Result<nix::fcntl::Flock<fs::File>, StoreError> {
    let p = store.config().state_dir.join("gc.lock");
    let f = crate::lock::open_lock_file(&p)?;
    match crate::lock::try_lock_or_keep(f, true)? {
        Ok(l) => Ok(l),
        Err(f) => {
            store.log(Log::Info(
                "waiting for the big garbage collector lock...".into(),
            ));
            crate::lock::lock_file(f, true, true)?
                .ok_or_else(|| StoreError::Other("cannot take the garbage collector lock".into()))
        }
    }
}

/// Runs the garbage collector on `store` (see the module documentation).
pub fn collect_garbage(
    store: &LocalStore,
    opts: &GcOptions,
    policy: GcPolicy,
) -> Result<GcResult, StoreError> {
    let should_delete = matches!(opts.action, GcAction::DeleteDead | GcAction::DeleteSpecific);
    // With --ignore-liveness, following outputs or derivers would delete them too.
    let ignoring = opts.action == GcAction::DeleteSpecific && opts.ignore_liveness;
    let cfg = store.config();
    if should_delete {
        // The space reserved for a full disk (by Nix) goes first.
        let _ = delete_counting(&cfg.state_dir.join("db").join("reserved"));
    }
    let _gc_lock = take_gc_lock(store)?;
    let listener = bind_socket(&cfg.state_dir)?;
    let (stop_r, stop_w) =
        nix::unistd::pipe().map_err(|e| StoreError::io("creating a pipe", &io::Error::from(e)))?;
    let shared = Shared::default();
    let mut c = Collector {
        store,
        opts,
        shared: &shared,
        keep_outputs: policy.keep_outputs && !ignoring,
        keep_derivations: policy.keep_derivations && !ignoring,
        should_delete,
        roots: HashSet::new(),
        alive: HashSet::new(),
        dead: HashSet::new(),
        referrers: HashMap::new(),
        paths: BTreeSet::new(),
        bytes_freed: 0,
        batch: Vec::new(),
        batch_limit: if opts.max_freed == u64::MAX { 1000 } else { 1 },
    };
    let walked = std::thread::scope(|scope| {
        let server = scope.spawn(|| serve(scope, store, &shared, &listener, &stop_r));
        let r = (|| -> Result<(), Stop> {
            store.log(Log::Info("finding garbage collector roots...".into()));
            // Temporary roots first: a process that holds a path only by a temporary root
            // and makes a permanent one before it exits is then seen either way. (Read
            // the other way round, a root made and a process ended between the two reads
            // would leave its path with neither.) Roots added from now on arrive through
            // the socket.
            let mut temp = Roots::new();
            find_temp_roots(store, true, &mut temp)?;
            {
                let mut st = lock(&shared.state);
                for p in temp.keys() {
                    st.temp_roots.insert(p.hash_part().to_string());
                }
            }
            c.roots.extend(temp.into_keys());
            let mut found = Roots::new();
            if !opts.ignore_liveness {
                find_roots_no_temp(store, true, &mut found)?;
            }
            c.roots.extend(found.into_keys());
            // A synchronisation point for Nix's gc-concurrent test.
            if let Some(p) = std::env::var_os("_NIX_TEST_GC_SYNC") {
                let p = PathBuf::from(p);
                fs::read(&p).map_err(|e| io_at(&e, "reading", &p))?;
            }
            c.walk()
        })();
        let _ = nix::unistd::write(&stop_w, b"x");
        let _ = server.join();
        r
    });
    match walked {
        Ok(()) | Err(Stop::Limit) => {}
        Err(Stop::Fail(e)) => return Err(e),
    }
    let mut paths = std::mem::take(&mut c.paths);
    match opts.action {
        GcAction::ReturnLive => {
            paths.extend(c.alive.iter().map(|p| store.print(p)));
        }
        GcAction::ReturnDead => {
            paths.extend(c.dead.iter().map(|p| store.print(p)));
        }
        GcAction::DeleteDead | GcAction::DeleteSpecific => delete_unused_links(store)?,
    }
    Ok(GcResult {
        paths: paths.into_iter().collect(),
        bytes_freed: c.bytes_freed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_paths_in_environment() {
        let env =
            b"A=/nix/store/abc-foo/bin:/nix/store/Xbad\0B=x/nix/store/9z-q.r?s=t+u!v\0/nix/store/";
        assert_eq!(
            store_paths_in(env, "/nix/store"),
            vec![
                "/nix/store/abc-foo".to_string(),
                "/nix/store/9z-q.r?s=t+u".to_string()
            ]
        );
    }

    #[test]
    fn deletion_counts_files_with_one_or_two_links() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("d");
        fs::create_dir_all(d.join("sub")).unwrap();
        fs::write(d.join("one"), vec![0u8; 10]).unwrap();
        fs::write(d.join("sub/two"), vec![0u8; 100]).unwrap();
        fs::hard_link(d.join("sub/two"), tmp.path().join("link2")).unwrap();
        fs::write(d.join("three"), vec![0u8; 1000]).unwrap();
        fs::hard_link(d.join("three"), tmp.path().join("l3a")).unwrap();
        fs::hard_link(d.join("three"), tmp.path().join("l3b")).unwrap();
        std::os::unix::fs::symlink("one", d.join("sym")).unwrap();
        fs::set_permissions(d.join("sub"), fs::Permissions::from_mode(0o555)).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o555)).unwrap();
        assert_eq!(delete_counting(&d).unwrap(), 10 + 100 + 3);
        assert!(!d.exists());
        assert_eq!(delete_counting(&d).unwrap(), 0);
    }
}
