//! Accepting clients: the daemon socket (or a socket systemd hands over), a process per
//! connection, and hang-up detection.

use crate::latency::{Link, SpinRead};
use crate::trust::{classify, Peer};
use crate::worker::{self, Context};
use ferrix_store::local::LocalConfig;
use ferrix_store::settings::Settings;
use ferrix_wire::Version;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;

/// How the daemon runs.
pub struct DaemonConfig {
    /// The daemon's settings (`nix.conf` and its command line).
    pub settings: Settings,
    /// The store it serves.
    pub store: LocalConfig,
    /// `$NIX_STATE_DIR/daemon-socket/socket`.
    pub socket: PathBuf,
    /// Called in each connection's process once the protocol version is agreed, with the
    /// client's socket: the binary arranges for running out of memory to be reported there.
    pub on_client: fn(RawFd, Version),
}

/// Where messages about connections go (the daemon's standard error).
fn note(msg: &str) {
    use std::io::Write;
    let _ = writeln!(io::stderr(), "{msg}");
}

/// The listening socket: the one systemd passes (`LISTEN_FDS`, for this `LISTEN_PID`), or a
/// new one at `cfg.socket`, open to everyone (permissions are checked per client).
fn listener(cfg: &DaemonConfig) -> io::Result<UnixListener> {
    let pid_ok = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    if pid_ok {
        let n = std::env::var("LISTEN_FDS")
            .ok()
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0);
        if n != 1 {
            return Err(io::Error::other("unexpected systemd environment variables"));
        }
        // SAFETY: systemd's protocol hands this process file descriptor 3, a listening
        // socket, which nothing else in the process owns.
        let fd = unsafe { OwnedFd::from_raw_fd(3) };
        return Ok(UnixListener::from(fd));
    }
    if let Some(dir) = cfg.socket.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(&cfg.socket);
    let l = UnixListener::bind(&cfg.socket).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "cannot bind to socket '{}': {}",
                cfg.socket.display(),
                ferrix_store::io_reason(&e)
            ),
        )
    })?;
    std::fs::set_permissions(&cfg.socket, std::fs::Permissions::from_mode(0o666))?;
    Ok(l)
}

/// Serves clients on the daemon socket until killed. Each connection gets a process of its
/// own.
pub fn run_socket(cfg: &DaemonConfig) -> io::Result<()> {
    let l = listener(cfg)?;
    // Finished connection processes are reaped by the kernel.
    // SAFETY: setting a signal's disposition to `SIG_IGN` runs no code of ours.
    unsafe {
        let _ = nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGCHLD,
            nix::sys::signal::SigHandler::SigIgn,
        );
    }
    loop {
        let stream = match l.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                note(&format!("error: accepting a connection: {e}"));
                continue;
            }
        };
        // SAFETY: the listener runs no other thread, so the child is a copy of a
        // single-threaded process and may run any code.
        match unsafe { nix::unistd::fork() } {
            Ok(nix::unistd::ForkResult::Child) => {
                drop(l);
                // SAFETY: as above; builds need their children's exit statuses again.
                unsafe {
                    let _ = nix::sys::signal::signal(
                        nix::sys::signal::Signal::SIGCHLD,
                        nix::sys::signal::SigHandler::SigDfl,
                    );
                }
                let _ = nix::unistd::setsid();
                let code = match serve_client(stream, cfg) {
                    Ok(()) => 0,
                    Err(e) => {
                        note(&format!("error: {e}"));
                        1
                    }
                };
                // SAFETY: `_exit` ends the connection's process without running the
                // listener's exit-time code, which belongs to the parent.
                unsafe { libc::_exit(code) }
            }
            Ok(nix::unistd::ForkResult::Parent { .. }) => drop(stream),
            Err(e) => note(&format!("error: cannot fork for a connection: {e}")),
        }
    }
}

/// Serves one client on a socket: who it is, whether it may connect, then the protocol.
/// Runs in a process of its own, which waits for requests and follows its client's CPU as
/// [`crate::latency`] says.
pub fn serve_client(stream: UnixStream, cfg: &DaemonConfig) -> io::Result<()> {
    let peer = Peer::of(&stream)?;
    let s = &cfg.settings;
    let (trusted, allowed) = classify(&peer, &s.trusted_users, &s.allowed_users);
    let primary = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(peer.gid))
        .ok()
        .flatten()
        .map(|g| g.name);
    // Build users never talk to the daemon.
    let builder =
        !s.build_users_group.is_empty() && primary.as_deref() == Some(s.build_users_group.as_str());
    if !allowed || builder {
        return Err(io::Error::other(format!(
            "error processing connection: user '{}' is not allowed to connect to the Nix daemon",
            peer.user
        )));
    }
    note(&format!(
        "accepted connection from pid {}, user {}{}",
        peer.pid,
        peer.user,
        if trusted { " (trusted)" } else { "" }
    ));
    watch_hangup(stream.as_raw_fd());
    let link = Link::of_listener(nix::unistd::getppid().as_raw());
    let ctx = Context {
        settings: cfg.settings.clone(),
        store: cfg.store.clone(),
        trusted,
        user: Some((peer.user.clone(), peer.uid)),
        recursive: None,
        // This process serves this client alone.
        co_schedule: Some(peer.pid),
        link: Some(link.clone()),
    };
    let fd = stream.as_raw_fd();
    let out = stream.try_clone()?;
    let on_client = cfg.on_client;
    worker::serve(SpinRead::new(stream).with_link(link), out, &ctx, &mut |v| {
        on_client(fd, v)
    })
    .map_err(io::Error::other)
}

/// `nix-daemon --stdio`: one trusted client on standard input and output (whoever can
/// reach these streams is the daemon's business, as in Nix).
pub fn run_stdio(cfg: &DaemonConfig) -> io::Result<()> {
    let ctx = Context {
        settings: cfg.settings.clone(),
        store: cfg.store.clone(),
        trusted: true,
        user: None,
        recursive: None,
        co_schedule: None,
        link: None,
    };
    watch_hangup(0);
    let on_client = cfg.on_client;
    worker::serve(io::stdin(), io::stdout(), &ctx, &mut |v| on_client(1, v))
        .map_err(io::Error::other)
}

/// Watches `fd` for the client hanging up and then interrupts this process's work (running
/// builds are killed, and the operation fails), as Nix's daemon does.
pub(crate) fn watch_hangup(fd: RawFd) {
    std::thread::spawn(move || loop {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLRDHUP,
            revents: 0,
        };
        // SAFETY: `p` is one valid `pollfd` for the duration of the call; the descriptor
        // stays open for the life of the connection's process, which this thread does not
        // outlive.
        let n = unsafe { libc::poll(&mut p, 1, -1) };
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if p.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            ferrix_builder::interrupt();
            return;
        }
    });
}
