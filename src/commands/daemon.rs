//! `ferrix daemon` / `nix-daemon`: serves the local store to clients of Nix's worker
//! protocol.

use crate::cli::{parse, scan::Spec, CommandSpec, CommonArgs, Invocation, Program};
use ferrix_daemon::DaemonConfig;
use ferrix_store::{resolve, StoreKind};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicUsize, Ordering};

/// The clap side of `nix-daemon`'s own flags.
#[derive(clap::Parser, Debug)]
#[command(override_usage = "nix-daemon [OPTIONS]")]
pub(crate) struct Cli {
    /// Serve one client on standard input and output instead of listening on the socket
    #[arg(long = "stdio")]
    stdio: bool,
    /// Accepted for compatibility; has no effect
    #[arg(long = "daemon")]
    daemon: bool,
}

impl CommandSpec for Cli {
    const PROGRAM: Program = Program::Daemon;
    const SPEC: Spec = Spec::LEGACY;
    const EVAL_FLAGS: bool = false;
}

/// Everything `nix-daemon` was asked to do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DaemonArgs {
    /// `--stdio`.
    pub stdio: bool,
    /// `--daemon` (no effect).
    pub daemon: bool,
    /// Verbosity, settings and the other shared flags.
    pub common: CommonArgs,
}

/// Parses `nix-daemon`'s arguments (argv without the program name).
pub fn parse_args(inv: &Invocation, args: &[String]) -> Result<DaemonArgs, i32> {
    let p = parse::<Cli>(inv, args)?;
    Ok(DaemonArgs {
        stdio: p.cli.stdio,
        daemon: p.cli.daemon,
        common: p.common,
    })
}

/// Entry point of `nix-daemon`.
pub fn main(inv: &Invocation, args: &[String]) -> i32 {
    match parse_args(inv, args) {
        Ok(a) => run(&a),
        Err(code) => code,
    }
}

/// Where running out of memory is reported in a connection's process: the client's
/// socket and the protocol message that says so (see `main.rs`'s allocator).
pub static OOM_FD: AtomicI32 = AtomicI32::new(-1);
pub static OOM_MSG: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
pub static OOM_LEN: AtomicUsize = AtomicUsize::new(0);

/// Prepares the out-of-memory report for a client of protocol `ver` on `fd`: the error
/// `Nix daemon out of memory` as that version frames it.
fn on_client(fd: RawFd, ver: ferrix_wire::Version) {
    let mut msg = Vec::new();
    let e =
        ferrix_wire::StderrMsg::Error(ferrix_wire::RemoteError::new("Nix daemon out of memory"));
    if e.write(&mut msg, ver).is_err() {
        return;
    }
    // The message lives as long as the process.
    let msg: &'static mut [u8] = Box::leak(msg.into_boxed_slice());
    OOM_LEN.store(msg.len(), Ordering::SeqCst);
    OOM_MSG.store(msg.as_mut_ptr(), Ordering::SeqCst);
    OOM_FD.store(fd, Ordering::SeqCst);
    // Out of memory is then a report to the client, not a recoverable evaluation error.
    ferrix_eval::memory::set_recoverable(false);
}

/// Runs `nix-daemon`; returns the exit status.
pub fn run(a: &DaemonArgs) -> i32 {
    let opts = crate::store_setup::options(false, &a.common);
    let store = match resolve(&opts) {
        Ok(StoreKind::Local(cfg)) => cfg,
        // As Nix: with a daemon as the store, `--stdio` passes the client through to it.
        Ok(StoreKind::Daemon { socket, .. }) if a.stdio => {
            return match proxy(&socket) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("error: {e}");
                    1
                }
            };
        }
        Ok(_) => {
            eprintln!("error: nix-daemon serves a local store only");
            return 1;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let cfg = DaemonConfig {
        settings: a.common.config.clone(),
        store,
        socket: ferrix_store::open::daemon_socket_default(),
        on_client,
    };
    let r = if a.stdio {
        ferrix_daemon::run_stdio(&cfg)
    } else {
        ferrix_daemon::run_socket(&cfg)
    };
    match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// Copies standard input to the daemon at `socket` and its answers to standard output,
/// until the client closes its end.
fn proxy(socket: &std::path::Path) -> std::io::Result<()> {
    let s = std::os::unix::net::UnixStream::connect(socket).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!(
                "cannot connect to socket at '{}': {}",
                socket.display(),
                ferrix_store::io_reason(&e)
            ),
        )
    })?;
    let mut from_daemon = s.try_clone()?;
    let out = std::thread::spawn(move || -> std::io::Result<()> {
        use std::io::{Read, Write};
        let mut o = std::io::stdout().lock();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = from_daemon.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            // Every answer goes out at once: the client waits for it.
            o.write_all(&buf[..n])?;
            o.flush()?;
        }
    });
    let mut to_daemon = s.try_clone()?;
    std::io::copy(&mut std::io::stdin().lock(), &mut to_daemon)?;
    let _ = s.shutdown(std::net::Shutdown::Write);
    let _ = out.join();
    Ok(())
}
