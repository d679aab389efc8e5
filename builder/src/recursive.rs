//! Recursive Nix: a builder whose derivation requires the `recursive-nix` system feature
//! (with the experimental feature of that name) finds a daemon socket, `.nix-socket`, in its
//! build directory and `NIX_REMOTE` pointing at it. A thread of this process serves it.
//!
//! The builder does not depend on the servers (they stand above it): the server is
//! registered at start-up with [`set_server`], and a build hands it the socket and a
//! [`Recursive`], the state that the build and its server share:
//!
//! - the paths the builder may see: its input closure, and what its recursive calls added
//!   or built ([`Recursive::is_allowed`]);
//! - [`Recursive::add_dependency`], which records a path added or built by a recursive call
//!   and, in a sandboxed build, makes it appear in the running sandbox;
//! - after the build, the added paths join the input closure as the outputs' possible
//!   references.
//!
//! Making a path appear in a running sandbox: the builder's `pivot_root` hides the host's
//! store from its mount namespace. So the sandbox is set up in two namespaces
//! ([`super::sandbox`]): the first holds the chroot's mounts, with the chroot's store
//! directory marked shared, and keeps the host's root; the builder then unshares a second
//! one, whose store directory is a peer of the first's, and pivots there. A bind mount made
//! in the first namespace under the store directory propagates into the builder's. A
//! short-lived child process (`setns` is refused to a multi-threaded process) enters the
//! first namespace and makes that mount. Files that are not directories are hard-linked
//! (or copied) into the chroot's store directory from the host, as the directory is shared
//! with the host's view.

use ferrix_store::local::LocalConfig;
use ferrix_store::path::{StoreDir, StorePath};
use std::collections::BTreeSet;
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Duration;

/// The name of the socket in the build directory, as in Nix.
pub const SOCKET_NAME: &str = ".nix-socket";

/// What serving a build's socket needs: the listening socket, the shared state and the
/// store to serve. The server returns a way to stop it, called once the builder is gone.
pub type Server = Box<
    dyn Fn(UnixListener, Arc<Recursive>, &LocalConfig) -> std::io::Result<Box<dyn Stop>>
        + Send
        + Sync,
>;

/// A running server of one build's socket.
pub trait Stop: Send {
    /// Stops accepting connections and waits for those open to end.
    fn stop(self: Box<Self>);
}

static SERVER: RwLock<Option<Arc<Server>>> = RwLock::new(None);

/// Registers the server of recursive Nix sockets (the daemon's, restricted).
pub fn set_server(server: Server) {
    *SERVER.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(server));
}

pub(crate) fn server() -> Option<Arc<Server>> {
    SERVER.read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Where the running sandbox's namespaces are.
enum Namespace {
    /// The builder is not started yet.
    Pending,
    /// The mount namespace that holds the chroot's mounts (and the user namespace it
    /// belongs to, when the sandbox has one).
    Ready { mnt: OwnedFd, user: Option<OwnedFd> },
    /// The builder has ended, or its namespace could not be opened.
    Gone,
}

/// The sandbox of the build, as the host sees it.
struct SandboxView {
    /// The chroot's store directory (host path).
    chroot_store: PathBuf,
    /// Whether the sandbox has a user namespace of its own.
    user_ns: bool,
}

/// The state one build and the server of its socket share.
pub struct Recursive {
    dir: StoreDir,
    /// Where the store's paths are on this machine.
    real_dir: PathBuf,
    inputs: BTreeSet<StorePath>,
    added: Mutex<BTreeSet<StorePath>>,
    sandbox: Option<SandboxView>,
    ns: Mutex<Namespace>,
    ns_ready: Condvar,
}

impl Recursive {
    /// The state of a build with input closure `inputs`, in a sandbox whose chroot store
    /// directory is `chroot_store` (host path), if any.
    pub fn new(
        dir: StoreDir,
        real_dir: PathBuf,
        inputs: BTreeSet<StorePath>,
        chroot_store: Option<(PathBuf, bool)>,
    ) -> Recursive {
        Recursive {
            dir,
            real_dir,
            inputs,
            added: Mutex::new(BTreeSet::new()),
            sandbox: chroot_store.map(|(chroot_store, user_ns)| SandboxView {
                chroot_store,
                user_ns,
            }),
            ns: Mutex::new(Namespace::Pending),
            ns_ready: Condvar::new(),
        }
    }

    /// The store directory.
    pub fn dir(&self) -> &StoreDir {
        &self.dir
    }

    /// Whether the builder may see `p`: it is in the input closure, or a recursive call
    /// added or built it.
    pub fn is_allowed(&self, p: &StorePath) -> bool {
        self.inputs.contains(p) || lock(&self.added).contains(p)
    }

    /// The paths the builder may see.
    pub fn allowed(&self) -> BTreeSet<StorePath> {
        let mut all = self.inputs.clone();
        all.extend(lock(&self.added).iter().cloned());
        all
    }

    /// The paths recursive calls added or built (beyond the input closure).
    pub fn added(&self) -> BTreeSet<StorePath> {
        lock(&self.added).clone()
    }

    /// Records that a recursive call added or built the valid path `p`, and makes it
    /// appear in the sandbox.
    pub fn add_dependency(&self, p: &StorePath) -> Result<(), String> {
        // Held throughout: two calls adding one path make it appear once.
        let mut added = lock(&self.added);
        if self.inputs.contains(p) || added.contains(p) {
            return Ok(());
        }
        if let Some(sb) = &self.sandbox {
            self.materialise(sb, p)?;
        }
        added.insert(p.clone());
        Ok(())
    }

    /// Makes `p` appear in the running sandbox.
    fn materialise(&self, sb: &SandboxView, p: &StorePath) -> Result<(), String> {
        let shown = self.dir.display(p);
        let source = self.real_dir.join(p.base_name());
        let target = sb.chroot_store.join(p.base_name());
        if std::fs::symlink_metadata(&target).is_ok() {
            return Err(format!(
                "store path '{shown}' already exists in the sandbox"
            ));
        }
        let meta = std::fs::symlink_metadata(&source).map_err(|e| {
            format!(
                "getting status of '{}': {}",
                source.display(),
                ferrix_store::io_reason(&e)
            )
        })?;
        if !meta.is_dir() {
            // The chroot's store directory is the same directory on the host.
            return std::fs::hard_link(&source, &target)
                .or_else(|_| {
                    if meta.file_type().is_symlink() {
                        let to = std::fs::read_link(&source)?;
                        std::os::unix::fs::symlink(to, &target)
                    } else {
                        std::fs::copy(&source, &target).map(|_| ())
                    }
                })
                .map_err(|e| {
                    format!(
                        "could not add path '{shown}' to sandbox: {}",
                        ferrix_store::io_reason(&e)
                    )
                });
        }
        std::fs::create_dir(&target).map_err(|e| {
            format!(
                "creating mount point '{}': {}",
                target.display(),
                ferrix_store::io_reason(&e)
            )
        })?;
        let g = self.wait_namespace();
        let Namespace::Ready { mnt, user } = &*g else {
            return Err(format!(
                "could not add path '{shown}' to sandbox: the builder has ended"
            ));
        };
        let user = if sb.user_ns && !nix::unistd::geteuid().is_root() {
            user.as_ref()
        } else {
            None
        };
        bind_in_namespace(mnt, user, &source, &target)
            .map_err(|e| format!("could not add path '{shown}' to sandbox: {e}"))
    }

    /// Waits (briefly) until the builder's namespace is known.
    fn wait_namespace(&self) -> std::sync::MutexGuard<'_, Namespace> {
        let g = lock(&self.ns);
        let (g, _) = self
            .ns_ready
            .wait_timeout_while(g, Duration::from_secs(30), |n| {
                matches!(n, Namespace::Pending)
            })
            .unwrap_or_else(|p| p.into_inner());
        g
    }

    /// The builder `pid` (the process that holds the sandbox's first mount namespace) has
    /// started.
    pub(crate) fn set_started(&self, pid: nix::unistd::Pid) {
        let open = |what: &str| -> Option<OwnedFd> {
            let p = format!("/proc/{pid}/ns/{what}");
            std::fs::File::open(p).ok().map(OwnedFd::from)
        };
        let state = match open("mnt") {
            Some(mnt) => Namespace::Ready {
                mnt,
                user: open("user"),
            },
            None => Namespace::Gone,
        };
        *lock(&self.ns) = state;
        self.ns_ready.notify_all();
    }

    /// The builder has ended: nothing more can appear in its sandbox.
    pub(crate) fn set_ended(&self) {
        *lock(&self.ns) = Namespace::Gone;
        self.ns_ready.notify_all();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Bind-mounts `source` onto `target` in the mount namespace `mnt` (entering `user` first,
/// when given), from a child process.
fn bind_in_namespace(
    mnt: &OwnedFd,
    user: Option<&OwnedFd>,
    source: &std::path::Path,
    target: &std::path::Path,
) -> Result<(), String> {
    let src = CString::new(source.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
    let dst = CString::new(target.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
    let mnt_fd = mnt.as_raw_fd();
    let user_fd = user.map(|u| u.as_raw_fd());
    let (err_r, err_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| format!("creating a pipe: {e}"))?;
    // SAFETY: the child only makes system calls on data prepared above, then exits.
    let pid = match unsafe { nix::unistd::fork() } {
        Err(e) => return Err(format!("unable to fork: {e}")),
        Ok(nix::unistd::ForkResult::Child) => unsafe {
            let report = |step: u8| -> ! {
                let e = nix::errno::Errno::last_raw();
                let mut buf = [0u8; 5];
                buf[0] = step;
                buf[1..].copy_from_slice(&e.to_le_bytes());
                libc::write(err_w.as_raw_fd(), buf.as_ptr().cast(), buf.len());
                libc::_exit(1)
            };
            if let Some(u) = user_fd {
                if libc::setns(u, libc::CLONE_NEWUSER) != 0 {
                    report(0);
                }
            }
            if libc::setns(mnt_fd, libc::CLONE_NEWNS) != 0 {
                report(1);
            }
            let flags = libc::MS_BIND | libc::MS_REC;
            if libc::mount(
                src.as_ptr(),
                dst.as_ptr(),
                std::ptr::null(),
                flags,
                std::ptr::null(),
            ) != 0
            {
                report(2);
            }
            // Read-only like the other inputs; a user namespace may refuse to change the
            // flags, and the path is read-only by its permissions anyway.
            libc::mount(
                std::ptr::null(),
                dst.as_ptr(),
                std::ptr::null(),
                flags | libc::MS_REMOUNT | libc::MS_RDONLY,
                std::ptr::null(),
            );
            libc::_exit(0)
        },
        Ok(nix::unistd::ForkResult::Parent { child }) => child,
    };
    drop(err_w);
    let mut buf = [0u8; 5];
    let mut got = 0;
    while got < buf.len() {
        match nix::unistd::read(&err_r, &mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    while let Err(nix::errno::Errno::EINTR) = nix::sys::wait::waitpid(pid, None) {}
    if got == buf.len() {
        let errno = i32::from_le_bytes([buf[1], buf[2], buf[3], buf[4]]);
        let reason = ferrix_store::io_reason(&std::io::Error::from_raw_os_error(errno));
        let step = match buf[0] {
            0 => "entering the sandbox's user namespace".to_string(),
            1 => "entering the sandbox's mount namespace".to_string(),
            _ => format!(
                "bind-mounting '{}' to '{}'",
                source.display(),
                target.display()
            ),
        };
        return Err(format!("{step}: {reason}"));
    }
    Ok(())
}

/// Why the recursive Nix daemon of a build could not start.
#[derive(Debug, thiserror::Error)]
pub enum RecursiveError {
    /// No server was registered ([`set_server`]).
    #[error("recursive Nix is not available in this program (no daemon to serve the build)")]
    Unavailable,
    #[error("starting the recursive Nix daemon: {}", ferrix_store::io_reason(.0))]
    Start(std::io::Error),
}

/// Serves `listener` for the build, or fails when no server is registered.
pub(crate) fn start(
    listener: UnixListener,
    state: Arc<Recursive>,
    store: &LocalConfig,
) -> Result<Box<dyn Stop>, RecursiveError> {
    let server = server().ok_or(RecursiveError::Unavailable)?;
    server(listener, state, store).map_err(RecursiveError::Start)
}
