//! The latency of a connection's small operations.
//!
//! A client of the worker protocol waits for each reply before it sends the next request,
//! so a run of small operations (`isValidPath`, `queryPathInfo`, small additions) costs two
//! wake-ups per operation and almost no work. On a machine whose idle CPUs sleep (in a
//! virtual machine, a sleeping CPU is woken through the hypervisor), those wake-ups are
//! most of the time of such an operation: 10,000 `isValidPath` calls of Nix 2.8's client
//! took 0.6 s on two CPUs of a virtual machine, and 0.12 s with client and server held on
//! one. Two measures keep the server's side of that cost down:
//!
//! - [`SpinRead`]: while the client answers quickly, the connection waits for its next
//!   request by polling the socket for up to [`SPIN`] (yielding the CPU at each turn)
//!   before it sleeps, so that the request finds it awake. A client that pauses longer
//!   makes it sleep at once, until the client is quick again; an idle connection costs
//!   nothing.
//! - [`CoSchedule`]: a connection process runs on the CPU its client last ran on while the
//!   operations are short, and on every CPU it may use otherwise. Operations that build,
//!   collect, optimise or verify give up the pin before they start (their builders and
//!   threads inherit the full set); an operation that took longer than [`LONG`] gives it
//!   up after the fact (a large addition: client and server then stream side by side);
//!   after [`SHORT_RUN`] short operations in a row, the connection moves to its client's
//!   CPU again. Only processes of their own, one per connection, are moved.
//!
//! Neither changes a result or the protocol.

use ferrix_wire::op::Op;
use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::sys::socket::{recv, MsgFlags};
use nix::unistd::Pid;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// How long a quick client's connection polls for its next request before it sleeps.
pub const SPIN: Duration = Duration::from_micros(50);

/// A client that took longer than this to send its next request is not quick: the
/// connection sleeps at once next time.
const QUICK: Duration = Duration::from_micros(200);

/// A socket whose reads poll for [`SPIN`] before they block, while the peer is quick.
pub struct SpinRead<S> {
    inner: S,
    quick: bool,
}

impl<S: Read + AsRawFd> SpinRead<S> {
    pub fn new(inner: S) -> SpinRead<S> {
        SpinRead { inner, quick: true }
    }
}

impl<S: Read + AsRawFd> Read for SpinRead<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let start = Instant::now();
        if self.quick {
            let fd = self.inner.as_raw_fd();
            loop {
                match recv(fd, buf, MsgFlags::MSG_DONTWAIT) {
                    Ok(n) => return Ok(n),
                    Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => {}
                    Err(e) => return Err(e.into()),
                }
                if start.elapsed() >= SPIN {
                    break;
                }
                // Another task on this CPU (the client, perhaps) runs first.
                let _ = nix::sched::sched_yield();
            }
        }
        let n = self.inner.read(buf)?;
        self.quick = start.elapsed() <= QUICK;
        Ok(n)
    }
}

/// An operation longer than this is work, not a question: the connection leaves its
/// client's CPU.
pub const LONG: Duration = Duration::from_millis(2);

/// Short operations in a row before the connection goes back to its client's CPU.
pub const SHORT_RUN: u32 = 8;

/// The pinning state of one connection process (its serving thread).
pub struct CoSchedule {
    client: Pid,
    /// The CPUs the process may use, as it started.
    all: CpuSet,
    pinned: bool,
    /// Short operations since the last long one.
    short: u32,
}

impl CoSchedule {
    /// For a connection of the process `client`; pins at once. `None` when the process's
    /// CPU set cannot be read (the connection then runs as scheduled).
    pub fn new(client: i32) -> Option<CoSchedule> {
        let client = Pid::from_raw(client);
        let all = sched_getaffinity(Pid::from_raw(0)).ok()?;
        let mut s = CoSchedule {
            client,
            all,
            pinned: false,
            short: SHORT_RUN,
        };
        s.pin();
        Some(s)
    }

    /// Before `op`: operations that start builds or long work run on every CPU.
    pub fn before(&mut self, op: Op) {
        if is_work(op) {
            self.short = 0;
            self.unpin();
        } else if !self.pinned && self.short >= SHORT_RUN {
            self.pin();
        }
    }

    /// After an operation that took `took`.
    pub fn after(&mut self, took: Duration) {
        if took > LONG {
            self.short = 0;
            self.unpin();
        } else {
            self.short = self.short.saturating_add(1);
        }
    }

    fn pin(&mut self) {
        let Some(cpu) = last_cpu(self.client) else {
            return;
        };
        if !self.all.is_set(cpu).unwrap_or(false) {
            return;
        }
        let mut one = CpuSet::new();
        if one.set(cpu).is_ok() && sched_setaffinity(Pid::from_raw(0), &one).is_ok() {
            self.pinned = true;
        }
    }

    fn unpin(&mut self) {
        if self.pinned && sched_setaffinity(Pid::from_raw(0), &self.all).is_ok() {
            self.pinned = false;
        }
    }
}

/// Operations that build, substitute, collect or walk the whole store.
fn is_work(op: Op) -> bool {
    matches!(
        op,
        Op::BuildPaths
            | Op::BuildPathsWithResults
            | Op::BuildDerivation
            | Op::EnsurePath
            | Op::CollectGarbage
            | Op::OptimiseStore
            | Op::VerifyStore
            | Op::ImportPaths
            | Op::AddMultipleToStore
    )
}

/// The CPU `pid` last ran on: field 39 of `/proc/PID/stat`.
fn last_cpu(pid: Pid) -> Option<usize> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_processor(&stat)
}

/// The `processor` field of a `/proc/PID/stat` line. The command name (field 2) is in
/// parentheses and may hold spaces and parentheses, so fields are counted after its last
/// `)`, where field 3 starts.
fn parse_processor(stat: &str) -> Option<usize> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_ascii_whitespace().nth(39 - 3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processor_is_field_39_after_an_odd_command_name() {
        let mut line = String::from("1234 (a) b (c) S");
        for f in 4..=38 {
            line.push_str(&format!(" {f}"));
        }
        line.push_str(" 7 0 0");
        assert_eq!(parse_processor(&line), Some(7));
        assert_eq!(parse_processor("1234 (x) S 1 2"), None);
        assert_eq!(parse_processor("no parenthesis"), None);
    }

    #[test]
    fn spin_read_reads_what_arrives_early_and_late_and_the_end() {
        use std::io::Write;
        use std::os::unix::net::UnixStream;
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut r = SpinRead::new(a);
        b.write_all(b"now").unwrap();
        let mut buf = [0u8; 16];
        let n = r.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"now");
        assert!(r.quick);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            b.write_all(b"later").unwrap();
            b
        });
        // Not there within the spin: the read sleeps until it comes.
        let n = r.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"later");
        assert!(!r.quick, "a slow client still counts as quick");
        drop(t.join().unwrap());
        assert_eq!(r.read(&mut buf).unwrap(), 0);
    }

    #[test]
    fn own_cpu_is_readable_and_allowed() {
        let me = Pid::this();
        let cpu = last_cpu(me).expect("the processor field of our own stat");
        let all = sched_getaffinity(Pid::from_raw(0)).unwrap();
        assert!(all.is_set(cpu).unwrap());
    }

    #[test]
    fn long_operations_unpin_and_short_runs_pin_again() {
        // A thread of its own, so that pinning does not move the test harness.
        std::thread::spawn(|| {
            let mut s = CoSchedule::new(Pid::this().as_raw()).unwrap();
            let count = |set: &CpuSet| {
                (0..CpuSet::count())
                    .filter(|&c| set.is_set(c).unwrap())
                    .count()
            };
            let now = || sched_getaffinity(Pid::from_raw(0)).unwrap();
            assert!(s.pinned);
            assert_eq!(count(&now()), 1);
            s.before(Op::BuildPaths);
            assert!(!s.pinned);
            assert_eq!(count(&now()), count(&s.all));
            for _ in 0..SHORT_RUN {
                s.before(Op::IsValidPath);
                assert!(!s.pinned, "pinned again before a run of short operations");
                s.after(Duration::from_micros(10));
            }
            s.before(Op::IsValidPath);
            assert!(s.pinned);
            s.after(LONG * 2);
            assert!(!s.pinned);
            assert_eq!(count(&now()), count(&s.all));
        })
        .join()
        .unwrap();
    }
}
