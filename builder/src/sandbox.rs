//! Starting a builder: `fork`, then (in the sandbox) `unshare` of the mount, PID, IPC, UTS
//! and usually network namespaces, a second `fork` so that the builder is PID 1 of its
//! namespace, the bind mounts of its chroot, `pivot_root`, and `execve`.
//!
//! The parent is multi-threaded, so after `fork` the child may only make system calls:
//! everything it needs (C strings, argument and environment arrays, the mount list) is
//! prepared before. A failing step is reported to the parent as its number and `errno`
//! through a close-on-exec pipe; end of file on that pipe means `execve` succeeded.

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::signal::{self, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{ForkResult, Gid, Pid, Uid};
use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A bind mount into the chroot.
pub struct Mount {
    pub source: CString,
    /// The mount point, as a host path under the chroot directory.
    pub target: CString,
    pub read_only: bool,
}

/// What isolates a sandboxed build.
pub struct Sandbox {
    /// The chroot directory (host path); prepared by the caller with its mount points.
    pub root: CString,
    pub mounts: Vec<Mount>,
    /// Give the builder a network namespace of its own (loopback only). Off for
    /// fixed-output derivations.
    pub private_network: bool,
    /// Map the builder's uid 1000 / gid 100 to these host ids in a user namespace (when
    /// there is no build user).
    pub user_ns: Option<(u32, u32)>,
    pub proc_dir: CString,
    pub pts_dir: CString,
    pub ptmx: CString,
    pub shm_dir: CString,
    /// The `size=` option of `/dev/shm` (the `sandbox-dev-shm-size` setting).
    pub shm_size: String,
    /// Recursive Nix: the chroot's store directory (host path), which is made a shared
    /// mount before the other mounts, and the builder then unshares a second mount
    /// namespace before `pivot_root`. Paths bind-mounted under it in the first namespace
    /// (the one of the process [`spawn`] returns) appear in the builder's.
    pub shared_store: Option<CString>,
}

/// A builder to start.
pub struct Spawn {
    pub program: CString,
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
    /// Working directory, as the builder sees it.
    pub cwd: CString,
    pub sandbox: Option<Sandbox>,
    /// Switch to this uid/gid (a build user) before `execve`.
    pub user: Option<(u32, u32)>,
}

/// A path or string for the builder that cannot be a C string.
#[derive(Debug, thiserror::Error)]
pub enum NulError {
    #[error("path '{}' contains a NUL byte", .0.display())]
    Path(PathBuf),
    #[error("string '{}' contains a NUL byte", String::from_utf8_lossy(.0))]
    String(Vec<u8>),
}

/// Why a builder could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error(transparent)]
    Nul(#[from] NulError),
    /// The pipe that reports the child's failures.
    #[error("creating a pipe: {0}")]
    Pipe(Errno),
    #[error("opening /dev/null")]
    DevNull,
    #[error("unable to fork: {0}")]
    Fork(Errno),
    /// `execve` of the builder failed with `errno`.
    #[error(
        "executing '{}': {}",
        String::from_utf8_lossy(.program),
        ferrix_store::io_reason(&std::io::Error::from_raw_os_error(*.errno))
    )]
    Exec { program: Vec<u8>, errno: i32 },
    /// A step of the set-up in the child failed with `errno`.
    #[error(
        "{step}: {}",
        ferrix_store::io_reason(&std::io::Error::from_raw_os_error(*.errno))
    )]
    Step { step: &'static str, errno: i32 },
}

/// Converts a path to a C string.
pub fn cpath(p: &Path) -> Result<CString, NulError> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| NulError::Path(p.to_path_buf()))
}

pub fn cstring(s: &[u8]) -> Result<CString, NulError> {
    CString::new(s).map_err(|_| NulError::String(s.to_vec()))
}

/// The steps that can fail in the child, for the parent's message.
const STEPS: &[&str] = &[
    "setting up the builder's standard streams",
    "creating the build namespaces",
    "setting up the user namespace",
    "forking the builder",
    "bringing up the loopback interface",
    "setting the host name",
    "making the mounts private",
    "bind-mounting the chroot directory",
    "making the sandbox's store directory shared",
    "bind-mounting a path into the sandbox",
    "remounting a path read-only",
    "mounting /proc",
    "mounting /dev/shm",
    "mounting /dev/pts",
    "changing to the chroot directory",
    "pivoting the root directory",
    "unmounting the old root",
    "setting the build user's groups",
    "setting the build user's group",
    "setting the build user",
    "changing to the build directory",
    "unsharing the builder's mount namespace",
    "executing the builder",
];
const STEP_EXEC: u8 = 22;

/// A started builder: the process to wait for (or kill), with its own process group.
pub struct Child {
    pub pid: Pid,
}

impl Child {
    /// Kills the builder and everything it started.
    pub fn kill(&self) {
        let _ = signal::kill(Pid::from_raw(-self.pid.as_raw()), Signal::SIGKILL);
        let _ = signal::kill(self.pid, Signal::SIGKILL);
    }

    /// Kills what the builder left running in its process group, after the builder itself
    /// was reaped: while any member is alive the group's number cannot be reused.
    pub fn kill_group(&self) {
        let _ = signal::kill(Pid::from_raw(-self.pid.as_raw()), Signal::SIGKILL);
    }

    /// The builder's status if it has ended (as [`Child::wait`] gives it), without waiting.
    pub fn try_wait(&self) -> Option<Result<i32, i32>> {
        loop {
            match waitpid(self.pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, c)) => return Some(Ok(c)),
                Ok(WaitStatus::Signaled(_, s, _)) => return Some(Err(s as i32)),
                Ok(WaitStatus::StillAlive) => return None,
                Ok(_) => continue,
                Err(Errno::EINTR) => continue,
                Err(_) => return Some(Err(Signal::SIGKILL as i32)),
            }
        }
    }

    /// Waits for the builder to end: `Ok(code)` for an exit, `Err(signal)` for a signal.
    pub fn wait(&self) -> Result<i32, i32> {
        loop {
            match waitpid(self.pid, None) {
                Ok(WaitStatus::Exited(_, c)) => return Ok(c),
                Ok(WaitStatus::Signaled(_, s, _)) => return Err(s as i32),
                Ok(_) => continue,
                Err(Errno::EINTR) => continue,
                Err(_) => return Err(Signal::SIGKILL as i32),
            }
        }
    }
}

/// Reports failed step `step` with the current errno and exits. Only system calls.
fn fail(err_fd: RawFd, step: u8) -> ! {
    let e = Errno::last_raw();
    let mut buf = [0u8; 5];
    buf[0] = step;
    buf[1..].copy_from_slice(&e.to_le_bytes());
    // SAFETY: plain system calls on a buffer of this frame; async-signal-safe after `fork`.
    unsafe {
        libc::write(err_fd, buf.as_ptr().cast(), buf.len());
        libc::_exit(1)
    }
}

fn check<T>(r: nix::Result<T>, err_fd: RawFd, step: u8) -> T {
    match r {
        Ok(v) => v,
        Err(e) => {
            Errno::set_raw(e as i32);
            fail(err_fd, step)
        }
    }
}

/// Writes `data` to the file `path` (for `/proc/self/uid_map` and friends).
fn write_proc(path: &CStr, data: &[u8]) -> bool {
    // SAFETY: system calls on a C string and a slice that outlive them; the descriptor is
    // closed before returning. Async-signal-safe after `fork`.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return false;
        }
        let ok = libc::write(fd, data.as_ptr().cast(), data.len()) == data.len() as isize;
        libc::close(fd);
        ok
    }
}

/// Brings up `lo` in a fresh network namespace.
fn loopback_up() -> bool {
    // SAFETY: system calls on a zeroed `ifreq` of this frame, whose name is NUL-terminated;
    // the socket is closed before returning. Async-signal-safe after `fork`.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return false;
        }
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo\0".iter().enumerate() {
            ifr.ifr_name[i] = *b as libc::c_char;
        }
        ifr.ifr_ifru.ifru_flags = (libc::IFF_UP | libc::IFF_LOOPBACK | libc::IFF_RUNNING) as i16;
        let ok = libc::ioctl(fd, libc::SIOCSIFFLAGS, &ifr) == 0;
        libc::close(fd);
        ok
    }
}

/// The precomputed `uid_map`/`gid_map` contents and their paths.
struct UserNs {
    setgroups: CString,
    uid_map: CString,
    gid_map: CString,
    uid_line: Vec<u8>,
    gid_line: Vec<u8>,
}

/// Starts the builder with `log` as its standard output and error. Returns once the
/// builder is executing (or with the reason it could not start).
pub fn spawn(s: &Spawn, log: &OwnedFd) -> Result<Child, SpawnError> {
    // Everything the child needs, prepared now.
    let dev_null = cstring(b"/dev/null")?;
    let mut argv_ptrs: Vec<*const libc::c_char> = s.argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut envp_ptrs: Vec<*const libc::c_char> = s.envp.iter().map(|a| a.as_ptr()).collect();
    envp_ptrs.push(std::ptr::null());
    let user_ns = match s.sandbox.as_ref().and_then(|b| b.user_ns) {
        Some((uid, gid)) => Some(UserNs {
            setgroups: cstring(b"/proc/self/setgroups")?,
            uid_map: cstring(b"/proc/self/uid_map")?,
            gid_map: cstring(b"/proc/self/gid_map")?,
            uid_line: format!("1000 {uid} 1").into_bytes(),
            gid_line: format!("100 {gid} 1").into_bytes(),
        }),
        None => None,
    };
    let dot = cstring(b".")?;
    let real_root = cstring(b"real-root")?;
    let slash = cstring(b"/")?;
    let proc_t = cstring(b"proc")?;
    let tmpfs_t = cstring(b"tmpfs")?;
    let devpts_t = cstring(b"devpts")?;
    let none = cstring(b"none")?;
    let shm_size = s.sandbox.as_ref().map_or("50%", |b| b.shm_size.as_str());
    let shm_opts = cstring(format!("size={shm_size}").as_bytes())?;
    let pts_opts = cstring(b"newinstance,mode=0620")?;
    let (err_r, err_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(SpawnError::Pipe)?;
    let log_fd = log.as_raw_fd();
    // SAFETY: `open` of a NUL-terminated path that outlives the call; the descriptor is
    // checked and closed below.
    let null_fd = unsafe { libc::open(dev_null.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if null_fd < 0 {
        return Err(SpawnError::DevNull);
    }
    let parent_pid = nix::unistd::getpid();

    // SAFETY: the child makes only system calls on data prepared above.
    let fork = unsafe { nix::unistd::fork() };
    let pid = match fork {
        Err(e) => {
            unsafe { libc::close(null_fd) };
            return Err(SpawnError::Fork(e));
        }
        Ok(ForkResult::Parent { child }) => child,
        Ok(ForkResult::Child) => unsafe {
            // Standard streams, the error pipe at fd 3, and nothing else: the other
            // builds' pipes must not stay open in here.
            const ERR: RawFd = 3;
            if libc::dup2(err_w.as_raw_fd(), ERR) < 0
                || libc::dup2(null_fd, 0) < 0
                || libc::dup2(log_fd, 1) < 0
                || libc::dup2(log_fd, 2) < 0
            {
                fail(err_w.as_raw_fd(), 0);
            }
            libc::fcntl(ERR, libc::F_SETFD, libc::FD_CLOEXEC);
            libc::syscall(libc::SYS_close_range, 4u32, u32::MAX, 0u32);
            let _ = nix::unistd::setsid();
            // Die with the thread that started us.
            let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
            if nix::unistd::getppid() != parent_pid {
                libc::_exit(1);
            }
            match &s.sandbox {
                None => {}
                Some(sb) => {
                    let mut flags = CloneFlags::CLONE_NEWNS
                        | CloneFlags::CLONE_NEWPID
                        | CloneFlags::CLONE_NEWIPC
                        | CloneFlags::CLONE_NEWUTS;
                    if sb.private_network {
                        flags |= CloneFlags::CLONE_NEWNET;
                    }
                    if user_ns.is_some() {
                        flags |= CloneFlags::CLONE_NEWUSER;
                    }
                    check(nix::sched::unshare(flags), ERR, 1);
                    if let Some(u) = &user_ns {
                        if !write_proc(&u.setgroups, b"deny")
                            || !write_proc(&u.uid_map, &u.uid_line)
                            || !write_proc(&u.gid_map, &u.gid_line)
                        {
                            fail(ERR, 2);
                        }
                    }
                    // The builder must be PID 1 of the new namespace: fork again and
                    // pass its end on.
                    match check(nix::unistd::fork(), ERR, 3) {
                        ForkResult::Parent { child } => {
                            libc::close(ERR);
                            let mut status = 0;
                            loop {
                                let r = libc::waitpid(child.as_raw(), &mut status, 0);
                                if r == child.as_raw() {
                                    break;
                                }
                                if r < 0 && Errno::last() != Errno::EINTR {
                                    libc::_exit(1);
                                }
                            }
                            if libc::WIFSIGNALED(status) {
                                let sig = libc::WTERMSIG(status);
                                libc::signal(sig, libc::SIG_DFL);
                                libc::kill(libc::getpid(), sig);
                                libc::_exit(128 + sig);
                            }
                            libc::_exit(libc::WEXITSTATUS(status));
                        }
                        ForkResult::Child => {}
                    }
                    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
                    if sb.private_network && !loopback_up() {
                        fail(ERR, 4);
                    }
                    check(nix::unistd::sethostname("localhost"), ERR, 5);
                    libc::setdomainname(c"(none)".as_ptr(), 6);
                    check(
                        nix::mount::mount(
                            None::<&CStr>,
                            slash.as_c_str(),
                            None::<&CStr>,
                            MsFlags::MS_PRIVATE | MsFlags::MS_REC,
                            None::<&CStr>,
                        ),
                        ERR,
                        6,
                    );
                    check(
                        nix::mount::mount(
                            Some(sb.root.as_c_str()),
                            sb.root.as_c_str(),
                            None::<&CStr>,
                            MsFlags::MS_BIND,
                            None::<&CStr>,
                        ),
                        ERR,
                        7,
                    );
                    if let Some(store) = &sb.shared_store {
                        // Its own mount, so that it can be shared with the builder's
                        // namespace (the chroot itself cannot be: `pivot_root` refuses).
                        check(
                            nix::mount::mount(
                                Some(store.as_c_str()),
                                store.as_c_str(),
                                None::<&CStr>,
                                MsFlags::MS_BIND,
                                None::<&CStr>,
                            ),
                            ERR,
                            8,
                        );
                        check(
                            nix::mount::mount(
                                None::<&CStr>,
                                store.as_c_str(),
                                None::<&CStr>,
                                MsFlags::MS_SHARED,
                                None::<&CStr>,
                            ),
                            ERR,
                            8,
                        );
                    }
                    for m in &sb.mounts {
                        check(
                            nix::mount::mount(
                                Some(m.source.as_c_str()),
                                m.target.as_c_str(),
                                None::<&CStr>,
                                MsFlags::MS_BIND | MsFlags::MS_REC,
                                None::<&CStr>,
                            ),
                            ERR,
                            9,
                        );
                        if m.read_only {
                            let r = nix::mount::mount(
                                None::<&CStr>,
                                m.target.as_c_str(),
                                None::<&CStr>,
                                MsFlags::MS_BIND
                                    | MsFlags::MS_REMOUNT
                                    | MsFlags::MS_RDONLY
                                    | MsFlags::MS_REC,
                                None::<&CStr>,
                            );
                            // In a user namespace, locked mount flags can refuse this;
                            // the paths are read-only by their permissions anyway.
                            if r.is_err() && user_ns.is_none() {
                                check(r, ERR, 10);
                            }
                        }
                    }
                    check(
                        nix::mount::mount(
                            Some(none.as_c_str()),
                            sb.proc_dir.as_c_str(),
                            Some(proc_t.as_c_str()),
                            MsFlags::empty(),
                            None::<&CStr>,
                        ),
                        ERR,
                        11,
                    );
                    check(
                        nix::mount::mount(
                            Some(none.as_c_str()),
                            sb.shm_dir.as_c_str(),
                            Some(tmpfs_t.as_c_str()),
                            MsFlags::empty(),
                            Some(shm_opts.as_c_str()),
                        ),
                        ERR,
                        12,
                    );
                    check(
                        nix::mount::mount(
                            Some(none.as_c_str()),
                            sb.pts_dir.as_c_str(),
                            Some(devpts_t.as_c_str()),
                            MsFlags::empty(),
                            Some(pts_opts.as_c_str()),
                        ),
                        ERR,
                        13,
                    );
                    libc::chmod(sb.ptmx.as_ptr(), 0o666);
                    if sb.shared_store.is_some() {
                        // The namespace so far (the waiting parent's) keeps the host's
                        // root for the recursive daemon's bind mounts; the builder pivots
                        // in a copy whose store directory is a peer of it.
                        check(nix::sched::unshare(CloneFlags::CLONE_NEWNS), ERR, 21);
                    }
                    check(nix::unistd::chdir(sb.root.as_c_str()), ERR, 14);
                    check(
                        nix::unistd::pivot_root(dot.as_c_str(), real_root.as_c_str()),
                        ERR,
                        15,
                    );
                    check(nix::unistd::chroot(dot.as_c_str()), ERR, 15);
                    check(
                        nix::mount::umount2(real_root.as_c_str(), MntFlags::MNT_DETACH),
                        ERR,
                        16,
                    );
                    libc::rmdir(real_root.as_ptr());
                }
            }
            if let Some((uid, gid)) = s.user {
                check(nix::unistd::setgroups(&[]), ERR, 17);
                check(nix::unistd::setgid(Gid::from_raw(gid)), ERR, 18);
                check(nix::unistd::setuid(Uid::from_raw(uid)), ERR, 19);
            }
            // Changing credentials clears the parent-death signal: set it (again) last.
            let parent = nix::unistd::getppid();
            let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
            if parent.as_raw() == 1 && s.sandbox.is_none() {
                libc::_exit(1);
            }
            check(nix::unistd::chdir(s.cwd.as_c_str()), ERR, 20);
            libc::execve(s.program.as_ptr(), argv_ptrs.as_ptr(), envp_ptrs.as_ptr());
            fail(ERR, STEP_EXEC)
        },
    };
    // SAFETY: the parent's copy of the descriptor opened above, closed once.
    unsafe { libc::close(null_fd) };
    drop(err_w);
    // Wait for exec (end of file) or an error report.
    let mut buf = [0u8; 5];
    let mut got = 0;
    while got < buf.len() {
        match nix::unistd::read(&err_r, &mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    let child = Child { pid };
    if got == buf.len() {
        child.kill();
        let _ = child.wait();
        let errno = i32::from_le_bytes([buf[1], buf[2], buf[3], buf[4]]);
        if buf[0] == STEP_EXEC {
            return Err(SpawnError::Exec {
                program: s.program.as_bytes().to_vec(),
                errno,
            });
        }
        let step = STEPS
            .get(buf[0] as usize)
            .copied()
            .unwrap_or("setting up the build");
        return Err(SpawnError::Step { step, errno });
    }
    Ok(child)
}
